import Testing
import TFLA
import TFLATestSupport

/// Gate pre-activations far outside any trained range, and hard resets
/// inside a chunk: the chunkwise kernels must still equal the recurrent form
/// (`Sources/TFLA/Documentation.docc/Math.md` §6, "Frames").
@Suite("Extreme gates")
struct ExtremeGateTests {
    static let magnitudes: [Double] = [1e6, 1e12, 1e20, 1e30]
    static let chunk = 8

    /// Tilings with one chunk size (so a reset at `chunk + p` sits at
    /// position p of a chunk): plain, split columns and tiles that do not
    /// divide the chunk, planned for 64 workers (segments, shared scores).
    static let tilings: [ChunkwiseOptions] = [
        ChunkwiseOptions(chunkSize: chunk, queryTile: 4, keyTile: 4),
        ChunkwiseOptions(chunkSize: chunk, queryTile: 3, keyTile: 5, valueDimTile: 4),
        ChunkwiseOptions(chunkSize: chunk, queryTile: 4, keyTile: 2, valueDimTile: 2, parallelism: 64),
    ]

    static let trainingTilings: [TrainingTiling] = [
        TrainingTiling(chunkSize: chunk, queryTile: 3, keyTile: 5),
        TrainingTiling(chunkSize: chunk, queryTile: 4, keyTile: 4, valueDimTile: 3, stateStride: 2, parallelism: 64),
    ]

    static func setting(_ tensor: Tensor<Double>, _ values: [(Int, Double)]) -> Tensor<Double> {
        var result = tensor
        result.withUnsafeMutableBufferPointer { buffer in
            for (index, value) in values { buffer[index] = value }
        }
        return result
    }

    /// A sequence of three chunks (the last partial) on two heads; the
    /// second head keeps realistic gates.
    static func problem(seed: UInt64) throws -> ChunkwiseBackwardTests.Case {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 3 * chunk - 3, keyDim: 5, valueDim: 6)
        return try ChunkwiseBackwardTests.makeCase(shape, gate: .exponential, seed: seed, initialState: true,
                                                   finalGradients: true)
    }

    /// For every gate (the state reduced to (c, n) for the sigmoid gate):
    /// the inference forward with each of `forwardTilings`, the training
    /// forward with each of `trainingForwardTilings` and the exact gradients
    /// with each training tiling equal the recurrent forms within 1e-10.
    static func expectAllGatesMatchRecurrent(_ c: ChunkwiseBackwardTests.Case, forwardTilings: [ChunkwiseOptions],
                                             trainingForwardTilings: [TrainingTiling] = [], _ label: String) throws {
        for gate in allGates {
            let state = gate.isStabilized ? c.state : c.state.map { MLSTMState(c: $0.c, n: $0.n) }
            var dFinalState = c.dFinalState
            if !gate.isStabilized, let m = dFinalState?.m { dFinalState?.m = Tensor(shape: m.shape) }
            let expected = try Reference.recurrent(c.x, gate: gate, initialState: state)
            #expect(maxMagnitude(expected.h) > 0)
            for options in forwardTilings {
                let result = try Chunkwise.forward(c.x, gate: gate, initialState: state, options: options)
                expectMatchesRecurrent(result.h, result.state, expected, "\(label) \(gate) \(options)")
            }
            for tiling in trainingForwardTilings {
                let result = try Chunkwise.trainingForward(c.x, gate: gate, initialState: state, stateStride: tiling.stateStride,
                                                           options: tiling.options)
                expectMatchesRecurrent(result.h, result.state, expected, "\(label) \(gate) \(tiling)")
            }
            let gradients = try Reference.recurrentBackward(c.x, gate: gate, initialState: state, dh: c.dh,
                                                            dFinalState: dFinalState)
            for options in trainingTilings {
                let g = try Chunkwise.gradients(c.x, gate: gate, initialState: state, dh: c.dh, dFinalState: dFinalState,
                                                stateStride: options.stateStride, options: options.options).gradients
                ChunkwiseBackwardTests.expectClose(g, gradients, tolerance: 1e-10, initialState: true,
                                                   "\(label) \(gate) \(options)")
            }
        }
    }

    /// One hard reset f̃ = −X at every position of a chunk: forward (both
    /// modes) and exact gradients equal the recurrent forms.
    @Test(arguments: magnitudes)
    func resetAtEveryPositionOfAChunk(magnitude: Double) throws {
        let base = try Self.problem(seed: 21)
        for position in 0..<Self.chunk {
            var c = base
            c.x.f = Self.setting(c.x.f, [(Self.chunk + position, -magnitude)])
            try Self.expectAllGatesMatchRecurrent(c, forwardTilings: Self.tilings, trainingForwardTilings: Self.trainingTilings,
                                                  "f = −\(magnitude) at \(position)")
        }
    }

    /// Several resets in one chunk, a reset as the first and the last token
    /// of chunks, and f̃ = −X on every token.
    @Test(arguments: magnitudes)
    func severalResets(magnitude: Double) throws {
        let base = try Self.problem(seed: 22)
        let s = base.x.f.shape[2]
        let patterns: [[Int]] = [[9, 11, 12, 15], [8, 16], [7, 15], Array(0..<s)]
        for pattern in patterns {
            var c = base
            c.x.f = Self.setting(c.x.f, pattern.map { ($0, -magnitude) })
            let expected = try Reference.recurrent(c.x, gate: .exponential, initialState: c.state)
            let gradients = try Reference.recurrentBackward(c.x, gate: .exponential, initialState: c.state, dh: c.dh,
                                                            dFinalState: c.dFinalState)
            for options in Self.tilings {
                let result = try Chunkwise.forward(c.x, gate: .exponential, initialState: c.state, options: options)
                expectMatchesRecurrent(result.h, result.state, expected, "resets \(pattern) −\(magnitude) \(options)")
            }
            for options in Self.trainingTilings {
                let g = try Chunkwise.gradients(c.x, gate: .exponential, initialState: c.state, dh: c.dh,
                                                dFinalState: c.dFinalState, stateStride: options.stateStride,
                                                options: options.options).gradients
                ChunkwiseBackwardTests.expectClose(g, gradients, tolerance: 1e-10, initialState: true,
                                                   "resets \(pattern) −\(magnitude) \(options)")
            }
        }
    }

    /// Every gate pre-activation, of either gate and sign, replaced with
    /// probability 1/4 by ±1e6, ±1e12, ±1e20 or ±1e30.
    @Test(arguments: 0..<24)
    func hugeValuesAnywhere(seed: Int) throws {
        var rng = SplitMix64(seed: UInt64(1000 + seed))
        var c = try Self.problem(seed: UInt64(30 + seed))
        func scatter(_ tensor: Tensor<Double>) -> Tensor<Double> {
            var changes = [(Int, Double)]()
            for index in 0..<tensor.count where Int.random(in: 0..<4, using: &rng) == 0 {
                let value = Self.magnitudes.randomElement(using: &rng)!
                changes.append((index, Bool.random(using: &rng) ? value : -value))
            }
            return Self.setting(tensor, changes)
        }
        c.x.f = scatter(c.x.f)
        c.x.i = scatter(c.x.i)
        try Self.expectAllGatesMatchRecurrent(c, forwardTilings: Self.tilings, "seed \(seed)")
    }

    /// Packed sequences and the inference state with resets: each packed
    /// sequence equals the recurrent form alone (forward and gradients), and
    /// prefill + steps equal one recurrent pass.
    @Test(arguments: magnitudes)
    func packedAndInference(magnitude: Double) throws {
        let c = try Self.problem(seed: 24)
        var x = c.x
        x.f = Self.setting(x.f, [(3, -magnitude), (12, -magnitude), (13, -magnitude), (21 + 18, -magnitude)])
        let offsets = [0, 9, 21]
        let packed = try Chunkwise.forward(packed: x, sequenceOffsets: offsets, gate: .exponential, options: Self.tilings[1])
        let grads = try Chunkwise.gradients(packed: x, sequenceOffsets: offsets, gate: .exponential, dh: c.dh,
                                            stateStride: Self.trainingTilings[0].stateStride,
                                            options: Self.trainingTilings[0].options).gradients
        for (start, end) in zip(offsets, offsets.dropFirst()) {
            let piece = try x.sequenceSlice(start..<end)
            let expected = try Reference.recurrent(piece, gate: .exponential)
            #expect(relativeError(try packed.h.slicing(axis: 2, start..<end), expected.h) <= 1e-10, "packed h −\(magnitude)")
            let dh = try c.dh.slicing(axis: 2, start..<end)
            let g = try Reference.recurrentBackward(piece, gate: .exponential, dh: dh)
            #expect(relativeError(try grads.df.slicing(axis: 2, start..<end), g.df) <= 1e-10, "packed df −\(magnitude)")
            #expect(relativeError(try grads.dk.slicing(axis: 2, start..<end), g.dk) <= 1e-10, "packed dk −\(magnitude)")
        }
        // Prefill 11 tokens (a reset inside), then step through the rest.
        let expected = try Reference.recurrent(x, gate: .exponential)
        let state = try InferenceState<Double>(batch: 1, heads: 2, keyDim: 5, valueDim: 6, gate: .exponential)
        var outputs = [try state.prefill(try x.sequenceSlice(0..<11), options: Self.tilings[0])]
        for t in 11..<x.f.shape[2] {
            let token = try x.sequenceSlice(t..<(t + 1))
            func squeeze(_ tensor: Tensor<Double>) throws -> Tensor<Double> {
                try tensor.reshaped(tensor.shape.count == 4 ? [1, 2, tensor.shape[3]] : [1, 2, 1])
            }
            let h = try state.step(q: try squeeze(token.q), k: try squeeze(token.k), v: try squeeze(token.v),
                                   i: try squeeze(token.i), f: try squeeze(token.f))
            outputs.append(try h.reshaped([1, 2, 1, 6]))
        }
        for (index, t) in [0, 5, 11, 12, 13, 18, 20].enumerated() {
            let got = t < 11 ? try outputs[0].slicing(axis: 2, t..<(t + 1)) : outputs[t - 10]
            #expect(relativeError(got, try expected.h.slicing(axis: 2, t..<(t + 1))) <= 1e-10, "step \(index) −\(magnitude)")
        }
    }

    /// Float32 kernels with a reset inside a chunk: within 1e-4 of float64
    /// on the same (float32-representable) inputs.
    @Test(arguments: magnitudes)
    func float32Reset(magnitude: Double) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 200, keyDim: 16, valueDim: 12)
        var x = MLSTMInputs<Double>.random(shape, seed: 41)
        x.f = Self.setting(x.f, [(70, -magnitude), (100, -magnitude), (101, -magnitude), (263, -magnitude)])
        let x32 = x.converted(to: Float.self)
        let x64 = x32.converted(to: Double.self)
        for gate in allGates {
            let expected = try Reference.recurrent(x64, gate: gate)
            for options in [ChunkwiseOptions(chunkSize: 64), ChunkwiseOptions(chunkSize: 32, valueDimTile: 4, parallelism: 64)] {
                let result = try Chunkwise.forward(x32, gate: gate, options: options)
                #expect(relativeError(result.h, expected.h) <= 1e-4, "h \(gate) −\(magnitude) \(options)")
                #expect(relativeError(result.state.c, expected.state.c) <= 1e-4, "c \(gate) −\(magnitude)")
            }
            let dh = MLSTMInputs<Double>.random(shape, seed: 42).v.converted(to: Float.self)
            let g32 = try Chunkwise.gradients(x32, gate: gate, dh: dh).gradients
            let g64 = try Reference.recurrentBackward(x64, gate: gate, dh: dh.converted(to: Double.self))
            for (name, a, b) in [("dq", g32.dq, g64.dq), ("dk", g32.dk, g64.dk), ("dv", g32.dv, g64.dv)] {
                #expect(relativeError(a, b) <= 1e-3, "\(name) \(gate) −\(magnitude)")
            }
        }
    }

    /// At an exact tie in the stabilizer's max (f̃ so large that lf = 0 and
    /// equal ĩ), the token wins in every kernel: the chunkwise and the
    /// recurrent gradients agree.
    @Test func tiesRouteToTheToken() throws {
        var c = try Self.problem(seed: 23)
        let s = c.x.f.shape[2]
        c.x.f = Self.setting(c.x.f, (0..<(2 * s)).map { ($0, 1e4) })
        c.x.i = Self.setting(c.x.i, (0..<(2 * s)).map { ($0, 0.5) })
        c.state = c.state.map { MLSTMState(c: $0.c, n: $0.n, m: Tensor(shape: $0.m.shape, repeating: 0.5)) }
        let expected = try Reference.recurrentBackward(c.x, gate: .exponential, initialState: c.state, dh: c.dh,
                                                       dFinalState: c.dFinalState)
        for options in Self.trainingTilings {
            let g = try Chunkwise.gradients(c.x, gate: .exponential, initialState: c.state, dh: c.dh,
                                            dFinalState: c.dFinalState, stateStride: options.stateStride,
                                            options: options.options).gradients
            ChunkwiseBackwardTests.expectClose(g, expected, tolerance: 1e-10, initialState: true, "ties \(options)")
        }
        let parallel = try Reference.parallelBackward(c.x, gate: .exponential, eps: 0, dh: c.dh)
        let recurrent = try Reference.recurrentBackward(c.x, gate: .exponential, eps: 0, dh: c.dh)
        #expect(relativeError(parallel.di, recurrent.di) <= 1e-10)
        #expect(relativeError(parallel.df, recurrent.df) <= 1e-10)
    }
}
