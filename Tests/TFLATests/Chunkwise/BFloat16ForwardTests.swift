import Foundation
import Testing
import TFLA
import TFLATestSupport

/// The forward on bfloat16 storage (`forward(storedAs:)` with bf16
/// products): q, k and v read in place and packed once per chunk on AMX,
/// widened and computed in float32 elsewhere.
@Suite("bfloat16 forward")
struct BFloat16ForwardTests {
    static func options(threads: Int? = nil, parallelism: Int? = 4, chunk: Int = 64) -> ChunkwiseOptions {
        var options = ChunkwiseOptions(chunkSize: chunk, queryTile: min(64, chunk), keyTile: min(64, chunk),
                                       threads: threads, parallelism: parallelism)
        options.precision = .bf16Products
        return options
    }

    /// Inputs stored in bfloat16 and the same values widened to float32 and
    /// float64 (exact).
    static func problem(_ shape: ProblemShape, gates: GateDistribution = .realistic, seed: UInt64)
        -> (stored: MLSTMInputs<BFloat16>, single: MLSTMInputs<Float>, wide: MLSTMInputs<Double>) {
        let x = MLSTMInputs<Float>.random(shape, gates: gates, seed: seed)
        let stored = x.converted(to: BFloat16.self)
        let single = stored.converted(to: Float.self)
        let wide = single.converted(to: Double.self)
        return (stored, single, wide)
    }

    /// h against the float64 forward of the same (bfloat16) values, for
    /// both gates at realistic and extreme gates, at S = 4096: within 1e-2
    /// of max |h|, and far above float32's error, so that a path that
    /// silently computed in float32 (no rounding of C, of the scores or of
    /// the weighted keys) fails. Where AMX is missing the call computes in
    /// float32 by design, and the test checks that instead.
    @Test(arguments: [(Gate.exponential, GateDistribution.realistic), (.exponential, .extreme),
                      (.sigmoid(normalize: true), .realistic), (.sigmoid(normalize: true), .extreme)])
    func accuracyAgainstFloat64(gate: Gate, gates: GateDistribution) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 4096, keyDim: 64, valueDim: 128)
        let (stored, single, wide) = Self.problem(shape, gates: gates, seed: 31)
        let expected = try Chunkwise.forward(wide, gate: gate)
        let float32 = try Chunkwise.forward(single, gate: gate)
        var h = Tensor<Float>(shape: shape.valueShape)
        let state = try Chunkwise.forward(storedAs: stored, gate: gate, options: Self.options(), into: &h)
        let error = relativeError(h, expected.h)
        let errorSingle = relativeError(float32.h, expected.h)
        print("bfloat16 storage, \(gate) gate, \(gates) gates: h error \(error) (float32 \(errorSingle)), C error \(relativeError(state.c, expected.state.c))")
        #expect(maxMagnitude(expected.h) > 0.1)
        #expect(error <= 1e-2, "\(error)")
        #expect(relativeError(state.c, expected.state.c) <= 1e-2)
        #expect(relativeError(state.n, expected.state.n) <= 1e-5)   // n is float32 arithmetic on the exact inputs
        if BF16Products.hasMatrixUnits {
            #expect(error >= 10 * errorSingle, "bf16 \(error) vs float32 \(errorSingle): products not rounded?")
        } else {
            #expect(error <= 2 * errorSingle + 1e-7, "\(error) vs \(errorSingle): float32 products expected without AMX")
        }
    }

    /// The bfloat16 packers read what the float32 ones read: against the
    /// widened inputs through the same walk the results differ only by the
    /// order of the float32 sums of the scores and q·n (exact products
    /// either way), over odd sizes, partial chunks, an initial state,
    /// several segments and column tiles.
    @Test(.enabled(if: BF16Products.hasMatrixUnits),
          arguments: [(1, 2, 100, 33, 17, 32), (2, 1, 300, 64, 40, 64), (1, 3, 257, 96, 80, 128), (1, 1, 31, 8, 8, 16)])
    func storageMatchesWidenedInputs(batch: Int, heads: Int, sequence: Int, keyDim: Int, valueDim: Int, chunk: Int) throws {
        let shape = ProblemShape(batch: batch, heads: heads, sequence: sequence, keyDim: keyDim, valueDim: valueDim)
        let (stored, single, _) = Self.problem(shape, seed: UInt64(sequence))
        let start = MLSTMInputs<Float>.random(shape, seed: 5)
        let initial = try Chunkwise.forward(start, gate: .exponential).state
        for tile in [nil, 16] {
            var options = Self.options(parallelism: 3, chunk: chunk)
            options.valueDimTile = tile
            let a = try Chunkwise.forward(storedAs: stored, gate: .exponential, initialState: initial, options: options)
            var h = Tensor<Float>(shape: shape.valueShape)
            let state = try Chunkwise.forward(storedAs: stored, gate: .exponential, initialState: initial,
                                              options: options, into: &h)
            let b = try Chunkwise.forward(single, gate: .exponential, initialState: initial, options: options)
            #expect(relativeError(h, b.h) <= 1e-3, "\(shape) tile \(tile ?? 0): \(relativeError(h, b.h))")
            #expect(relativeError(state.c, b.state.c) <= 1e-3)
            #expect(state.m == b.state.m)
            // bfloat16 h is the float32 h rounded, bit for bit.
            #expect(a.h.scalars.map { $0.bitPattern } == h.converted(to: BFloat16.self).scalars.map { $0.bitPattern })
            #expect(a.state.c.scalars == state.c.scalars)
        }
    }

    /// The packed forward on bfloat16 storage equals each sequence run
    /// alone (one segment each: the same walk), bit for bit.
    @Test func packedSequencesMatchSeparateRuns() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 300, keyDim: 32, valueDim: 48)
        let (stored, _, _) = Self.problem(shape, seed: 12)
        let offsets = [0, 100, 137, 300]
        let options = Self.options(threads: 2, parallelism: 1)
        let packed = try Chunkwise.forward(storedAs: stored, sequenceOffsets: offsets, gate: .exponential, options: options)
        for index in 0..<offsets.count - 1 {
            let piece = try stored.sequenceSlice(offsets[index]..<offsets[index + 1])
            let alone = try Chunkwise.forward(storedAs: piece, gate: .exponential, options: options)
            let packedPiece = try packed.h.slicing(axis: 2, offsets[index]..<offsets[index + 1])
            #expect(packedPiece.scalars.map { $0.bitPattern } == alone.h.scalars.map { $0.bitPattern })
            #expect(packed.states[index].c.scalars == alone.state.c.scalars)
        }
    }

    /// Threads never change the bits (same plan).
    @Test func threadInvariance() throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 500, keyDim: 64, valueDim: 96)
        let (stored, _, _) = Self.problem(shape, seed: 8)
        let first = try Chunkwise.forward(storedAs: stored, gate: .sigmoid(normalize: true), options: Self.options(threads: 1))
        for threads in [2, 4] {
            let other = try Chunkwise.forward(storedAs: stored, gate: .sigmoid(normalize: true), options: Self.options(threads: threads))
            #expect(other.h.scalars.map { $0.bitPattern } == first.h.scalars.map { $0.bitPattern })
            #expect(other.state.c.scalars == first.state.c.scalars)
        }
    }

    /// `.inputType` on bfloat16 storage is the float32 forward of the
    /// widened values (the exact reference of those inputs).
    @Test func inputTypeComputesInFloat32() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 200, keyDim: 32, valueDim: 48)
        let (stored, single, _) = Self.problem(shape, seed: 9)
        var h = Tensor<Float>(shape: shape.valueShape)
        let options = ChunkwiseOptions(parallelism: 2)
        _ = try Chunkwise.forward(storedAs: stored, gate: .exponential, options: options, into: &h)
        #expect(h.scalars == (try Chunkwise.forward(single, gate: .exponential, options: options)).h.scalars)
    }

    /// The widened copies are converted on several threads in blocks: the
    /// same bits as one thread, both ways, NaN, infinities and subnormals
    /// included.
    @Test func threadedConversionMatches() throws {
        var values = (0..<(3 << 20) + 7).map { Float(bitPattern: UInt32(truncatingIfNeeded: $0 &* 2_654_435_761)) }
        values[5] = .nan
        values[6] = -.infinity
        values[7] = Float(bitPattern: 0x0000_0123)
        let x = try Tensor(shape: [values.count], scalars: values)
        let narrow: Tensor<BFloat16> = x.converted()
        #expect(x.converted(to: BFloat16.self, threads: 3).scalars.map { $0.bitPattern } == narrow.scalars.map { $0.bitPattern })
        let wide: Tensor<Float> = narrow.converted()
        #expect(narrow.converted(to: Float.self, threads: 4).scalars.map { $0.bitPattern } == wide.scalars.map { $0.bitPattern })
    }

    /// Generation on bfloat16 storage: a bfloat16 prefill, then bfloat16
    /// tokens, against the same values widened through the float32 state —
    /// exact with `.inputType` (the step widens its token and rounds h),
    /// within bf16 accuracy with bf16 products in the prefill.
    @Test func prefillAndStepOnBFloat16() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 130, keyDim: 32, valueDim: 48)
        let (stored, single, _) = Self.problem(shape, seed: 14)
        let prompt = 0..<120
        for precision in [ChunkwiseOptions.Precision.inputType, .bf16Products] {
            var options = ChunkwiseOptions(parallelism: 2)
            options.precision = precision
            let ours = try InferenceState<Float>(batch: 1, heads: 2, keyDim: 32, valueDim: 48, gate: .exponential)
            let reference = try InferenceState<Float>(batch: 1, heads: 2, keyDim: 32, valueDim: 48, gate: .exponential)
            let h16 = try ours.prefill(storedAs: try stored.sequenceSlice(prompt), options: options)
            let h32 = try reference.prefill(try single.sequenceSlice(prompt), options: ChunkwiseOptions(parallelism: 2))
            let tolerance = precision == .inputType ? 4e-3 : 1.2e-2   // bfloat16 h: one rounding, then the products
            #expect(relativeError(h16, h32) <= tolerance, "\(precision): \(relativeError(h16, h32))")
            for t in 120..<130 {
                func token<S: TensorScalar>(_ x: Tensor<S>, _ width: Int) throws -> Tensor<S> {
                    try x.slicing(axis: 2, t..<t + 1).reshaped([1, 2, width])
                }
                var out16 = Tensor<BFloat16>(shape: [1, 2, 48])
                try ours.step(storedAs: try token(stored.q, 32), k: try token(stored.k, 32), v: try token(stored.v, 48),
                              i: try token(stored.i, 1), f: try token(stored.f, 1), into: &out16)
                let out32 = try reference.step(q: try token(single.q, 32), k: try token(single.k, 32),
                                               v: try token(single.v, 48), i: try token(single.i, 1),
                                               f: try token(single.f, 1))
                if precision == .inputType {
                    // The same float32 state, h rounded once.
                    #expect(out16.scalars.map { $0.bitPattern } == out32.converted(to: BFloat16.self).scalars.map { $0.bitPattern })
                } else {
                    #expect(relativeError(out16, out32) <= 1.2e-2, "step \(t): \(relativeError(out16, out32))")
                }
            }
        }
    }

    @Test func refusals() throws {
        let shape = ProblemShape(batch: 1, heads: 1, sequence: 64, keyDim: 8, valueDim: 8)
        let (stored, _, _) = Self.problem(shape, seed: 1)
        var wrongShape = Tensor<Float>(shape: [1, 1, 64, 9])
        #expect(throws: TFLAError.self) {
            try Chunkwise.forward(storedAs: stored, gate: .exponential, options: Self.options(), into: &wrongShape)
        }
        var wrongType = Tensor<Double>(shape: shape.valueShape)
        #expect(throws: TFLAError.self) {
            try Chunkwise.forward(storedAs: stored, gate: .exponential, options: Self.options(), into: &wrongType)
        }
        var bad = stored
        bad.k = try Tensor(shape: bad.k.shape, scalars: bad.k.scalars.enumerated().map { $0.offset == 7 ? BFloat16(Float.nan) : $0.element })
        do {
            _ = try Chunkwise.forward(storedAs: bad, gate: .exponential, options: Self.options())
            Issue.record("a NaN in k was accepted")
        } catch {
            guard case .nonFiniteValue(let argument, _, _, _) = error else { Issue.record("\(error)"); return }
            #expect(argument == "k")
        }
    }
}
