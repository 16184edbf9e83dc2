import Foundation
import Testing
import TFLA
import TFLATestSupport

/// The 0.6.0 API rules: an `into:` output of the wrong shape is refused by
/// the forward and by the step alike; an option an entry cannot use is
/// refused unless it is at its default; `.npy` writing of a type NumPy
/// lacks; the version.
@Suite("API consistency")
struct APIConsistencyTests {
    static let shape = ProblemShape(batch: 1, heads: 2, sequence: 40, keyDim: 4, valueDim: 6)

    /// The step, like `forward(…, into:)`, refuses an h of another shape
    /// before any work: h, the state and the token count are unchanged.
    @Test func stepRefusesAnotherOutputShape() throws {
        let state = try InferenceState<Double>(batch: 1, heads: 2, keyDim: 4, valueDim: 6, gate: .exponential)
        let token = try MLSTMInputs<Double>.random(Self.shape, seed: 3).sequenceSlice(0..<1)
        let (q, k, v) = (try token.q.reshaped([1, 2, 4]), try token.k.reshaped([1, 2, 4]), try token.v.reshaped([1, 2, 6]))
        let (i, f) = (try token.i.reshaped([1, 2, 1]), try token.f.reshaped([1, 2, 1]))
        var h = Tensor<Double>(shape: [1, 2, 5], repeating: 7)
        #expect(throws: TFLAError.shapeMismatch(argument: "h", expected: [1, 2, 6], given: [1, 2, 5])) {
            try state.step(q: q, k: k, v: v, i: i, f: f, into: &h)
        }
        #expect(h.shape == [1, 2, 5] && h.scalars.allSatisfy { $0 == 7 })
        #expect(state.tokens == 0 && state.snapshot().c.scalars.allSatisfy { $0 == 0 })
        // The right shape is written in place, and equals the returning step.
        var written = Tensor<Double>(shape: [1, 2, 6])
        try state.step(q: q, k: k, v: v, i: i, f: f, into: &written)
        let other = try InferenceState<Double>(batch: 1, heads: 2, keyDim: 4, valueDim: 6, gate: .exponential)
        #expect(written == (try other.step(q: q, k: k, v: v, i: i, f: f)))
    }

    /// The backward takes its chunk size from the forward's states: the
    /// default chunk size is ignored, the forward's own is accepted, any
    /// other is refused by name.
    @Test func backwardRefusesAChunkSizeItCannotUse() throws {
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 4)
        let dh = MLSTMInputs<Double>.random(Self.shape, seed: 5).v
        let forward = try Chunkwise.trainingForward(x, gate: .exponential, stateStride: 2,
                                                    options: ChunkwiseOptions(chunkSize: 8))
        let reference = try Chunkwise.backward(x, gate: .exponential, forward: forward, dh: dh)
        let matching = try Chunkwise.backward(x, gate: .exponential, forward: forward, dh: dh,
                                              options: ChunkwiseOptions(chunkSize: 8))
        #expect(matching.dq == reference.dq && matching.df == reference.df)
        #expect(throws: TFLAError.self) {
            try Chunkwise.backward(x, gate: .exponential, forward: forward, dh: dh, options: ChunkwiseOptions(chunkSize: 16))
        }
        // A chunk size beyond S is the forward's chunk size S, as the forward clips it.
        let whole = try Chunkwise.trainingForward(x, gate: .exponential, options: .training)
        _ = try Chunkwise.backward(x, gate: .exponential, forward: whole, dh: dh, options: .training)
        // gradients(…) runs both passes with one set of options.
        let both = try Chunkwise.gradients(x, gate: .exponential, dh: dh, stateStride: 2,
                                           options: ChunkwiseOptions(chunkSize: 8))
        #expect(both.gradients.dq == reference.dq)
    }

    /// bf16 products are refused, with a typed error, by every entry that
    /// cannot use them.
    @Test func precisionIsRefusedWhereItCannotApply() throws {
        let x = MLSTMInputs<Float>.random(Self.shape, seed: 6)
        let dh = MLSTMInputs<Float>.random(Self.shape, seed: 7).v
        var options = ChunkwiseOptions(chunkSize: 8)
        options.precision = .bf16Products
        let forward = try Chunkwise.trainingForward(x, gate: .exponential, options: ChunkwiseOptions(chunkSize: 8))
        let refusals: [() throws -> Void] = [
            { _ = try Chunkwise.trainingForward(x, gate: .exponential, options: options) },
            { _ = try Chunkwise.backward(x, gate: .exponential, forward: forward, dh: dh, options: options) },
            { _ = try Chunkwise.gradients(x, gate: .exponential, dh: dh, options: options) },
            { _ = try Chunkwise.summary(of: x, gate: .exponential, options: options) },
            { _ = try Chunkwise.forward(MLSTMInputs<Double>.random(Self.shape, seed: 8), gate: .exponential, options: options) },
        ]
        for refusal in refusals {
            #expect(throws: TFLAError.self) { try refusal() }
        }
        #expect(try Chunkwise.forward(x, gate: .exponential, options: options).h.shape == Self.shape.valueShape)
        #expect(ChunkwiseOptions().precision == .inputType)
    }

    /// Every tensor scalar is an `.npy` scalar, read back as itself:
    /// bfloat16 as ml_dtypes saves it (`<V2`); its float32 file is a
    /// conversion away.
    @Test func npyScalars() throws {
        let path = NSTemporaryDirectory() + "tfla-bf16-\(UInt64.random(in: 0...UInt64.max)).npy"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let values = try Tensor<BFloat16>(shape: [3], scalars: [BFloat16(1.5), BFloat16(-2), BFloat16(0.25)])
        try NPY.write(values, to: path)
        #expect(try NPY.read(contentsOf: path, as: BFloat16.self) == values)
        try NPY.write(values.converted(to: Float.self), to: path)
        let read = try NPY.read(contentsOf: path, as: Float.self)
        #expect(read.scalars == [1.5, -2, 0.25])
        #expect(Float.npyDescriptor == "<f4" && Double.npyDescriptor == "<f8")
        #expect(Float16.npyDescriptor == "<f2" && BFloat16.npyDescriptor == "<V2")
    }

    /// The version the release tag is made from.
    @Test func version() {
        #expect(BuildInfo.version == "0.7.2")
    }
}
