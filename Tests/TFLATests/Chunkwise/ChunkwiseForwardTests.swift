import CTFLAKernels
import Testing
import TFLA
import TFLATestSupport

@Suite("Chunkwise forward")
struct ChunkwiseForwardTests {
    /// Tilings that exercise every edge: chunk 1, chunk > S, chunk not a
    /// multiple of the tiles, tiles larger than the chunk, split columns.
    static let tilings: [ChunkwiseOptions] = [
        ChunkwiseOptions(chunkSize: 1, queryTile: 1, keyTile: 1),
        ChunkwiseOptions(chunkSize: 7, queryTile: 3, keyTile: 2),
        ChunkwiseOptions(chunkSize: 16, queryTile: 16, keyTile: 16, valueDimTile: 3),
        ChunkwiseOptions(chunkSize: 10, queryTile: 4, keyTile: 6, valueDimTile: 5),
        ChunkwiseOptions(chunkSize: 1000, queryTile: 64, keyTile: 64),
        ChunkwiseOptions(chunkSize: 13, queryTile: 32, keyTile: 5, valueDimTile: 1),
    ]

    /// Float64 chunkwise equals the recurrent form, with and without an
    /// initial state, on realistic and extreme gates, for every tiling.
    @Test(arguments: 0..<12)
    func float64MatchesRecurrent(seed: Int) throws {
        let shape = randomShape(seed: UInt64(seed), maxSequence: 70, maxKeyDim: 12, maxValueDim: 14)
        let gates: GateDistribution = seed % 3 == 0 ? .extreme : .realistic
        let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: UInt64(seed))
        let warmup = MLSTMInputs<Double>.random(
            ProblemShape(batch: shape.batch, heads: shape.heads, sequence: 5, keyDim: shape.keyDim, valueDim: shape.valueDim),
            gates: gates, seed: UInt64(seed) + 99)
        for gate in allGates {
            let initial = seed.isMultiple(of: 2) ? try Reference.recurrent(warmup, gate: gate).state : nil
            let expected = try Reference.recurrent(x, gate: gate, initialState: initial)
            #expect(maxMagnitude(expected.h) > 0)
            for options in Self.tilings {
                let result = try Chunkwise.forward(x, gate: gate, initialState: initial, options: options)
                let context = "\(shape) \(gate) \(gates) chunk \(options.chunkSize)"
                #expect(relativeError(result.h, expected.h) <= 1e-10, "h \(context)")
                #expect(relativeError(result.state.c, expected.state.c) <= 1e-10, "c \(context)")
                #expect(relativeError(result.state.n, expected.state.n) <= 1e-10, "n \(context)")
                #expect(relativeError(result.state.m, expected.state.m) <= 1e-12, "m \(context)")
            }
        }
    }

    /// The same result, bit for bit, for any number of worker threads.
    @Test(arguments: [(ForwardKind.inference, TrainingTiling(chunkSize: 16, queryTile: 8, keyTile: 8, valueDimTile: 4)),
                      (.inference, TrainingTiling(chunkSize: 32)),
                      (.training, TrainingTiling(chunkSize: 8, keyDimTile: 5, valueDimTile: 7, stateStride: 3))])
    func threadCountInvariance(kind: ForwardKind, tiling: TrainingTiling) throws {
        let shape = ProblemShape(batch: 2, heads: 3, sequence: 100, keyDim: 16, valueDim: 12)
        let x = MLSTMInputs<Float>.random(shape, seed: 5)
        var reference: ForwardResult<Float>?
        for threads in [1, 2, 7, 3] {
            var o = tiling.options
            o.threads = threads
            let result = try chunkwiseForward(kind, x, gate: .exponential, stateStride: tiling.stateStride, options: o)
            if let reference {
                #expect(result.h == reference.h, "threads \(threads)")
                #expect(result.state.c == reference.state.c)
                #expect(result.state.n == reference.state.n)
                #expect(result.state.m == reference.state.m)
            } else {
                reference = result
            }
        }
    }

    /// Float32 at S = 4096 stays within 1e-4 of the float64 reference, with
    /// trained-model gates and with extreme gates.
    ///
    /// Extreme gates can make the normalizer |q·n| nearly cancel (h then
    /// reaches thousands), and float32 rounding anywhere is amplified by that
    /// condition: the plain float32 recurrence itself is then off by more
    /// than 1e-4. There the bar is the float32 recurrence's own error: the
    /// chunkwise kernel must be at least as accurate (within 2×).
    @Test(arguments: GateDistribution.allCases, [Gate.exponential, .sigmoid(normalize: true)])
    func float32AtLongSequences(gates: GateDistribution, gate: Gate) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 4096, keyDim: 32, valueDim: 48)
        // The reference sees the same (float32-representable) inputs, so the
        // comparison measures the kernel's arithmetic, not input rounding.
        let x32 = MLSTMInputs<Float>.random(shape, gates: gates, seed: 11)
        let x64 = MLSTMInputs<Double>(
            q: x32.q.converted(), k: x32.k.converted(), v: x32.v.converted(), i: x32.i.converted(), f: x32.f.converted())
        let expected = try Reference.recurrent(x64, gate: gate)
        let plainFloat32 = relativeError(try Reference.recurrent(x32, gate: gate).h, expected.h)
        let bound = gates == .realistic ? 1e-4 : max(1e-4, 2 * plainFloat32)
        for chunk in [64, 256, 1024] {
            let result = try Chunkwise.forward(x32, gate: gate, options: ChunkwiseOptions(chunkSize: chunk))
            #expect(relativeError(result.h, expected.h) <= bound, "h chunk \(chunk), float32 recurrence: \(plainFloat32)")
            #expect(relativeError(result.state.c, expected.state.c) <= 1e-4, "c chunk \(chunk)")
        }
    }

    /// The training forward computes the same function as the inference
    /// forward, and its saved states are the recurrent states before every stride-th chunk —
    /// both when it walks per (head, column tile) (12 items with valueDimTile 4)
    /// and when it runs the state and output kernels (4 items).
    @Test(arguments: [1, 2, 3, 50], [4, nil])
    func trainingModeSavesTheChunkStates(stride: Int, valueDimTile: Int?) throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 45, keyDim: 7, valueDim: 9)
        for gates in GateDistribution.allCases {
            let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: UInt64(stride))
            let warmup = MLSTMInputs<Double>.random(
                ProblemShape(batch: 2, heads: 2, sequence: 3, keyDim: 7, valueDim: 9), gates: gates, seed: 77)
            for gate in allGates {
                let initial = try Reference.recurrent(warmup, gate: gate).state
                let expected = try Reference.recurrent(x, gate: gate, initialState: initial)
                let options = ChunkwiseOptions(chunkSize: 6, queryTile: 4, keyTile: 3, keyDimTile: 3, valueDimTile: valueDimTile)
                let result = try Chunkwise.trainingForward(x, gate: gate, initialState: initial, stateStride: stride,
                                                           options: options)
                expectMatchesRecurrent(result.h, result.state, expected)
                try expectSavedStatesMatchRecurrent(result.chunkStates, x, gate: gate, initialState: initial,
                                                    chunkSize: 6, stride: stride)
            }
        }
    }

    /// Workers flush subnormals to zero; the caller's thread must get its
    /// floating-point mode back (one thread runs on the caller's thread).
    @Test func callersFloatingPointModeIsRestored() throws {
        let before = tfla_floating_point_control()
        let x = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 1, sequence: 40, keyDim: 4, valueDim: 4))
        for threads in [1, 2] {
            _ = try Chunkwise.forward(x, gate: .exponential, options: ChunkwiseOptions(chunkSize: 8, threads: threads))
            #expect(tfla_floating_point_control() == before)
        }
    }

    /// The inference forward's result has no chunk states (its type has no
    /// such field); the training forward's always has them.
    @Test func onlyTheTrainingForwardKeepsChunkStates() throws {
        let x = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 1, sequence: 40, keyDim: 4, valueDim: 4))
        let inference: MLSTMOutput<Float> = try Chunkwise.forward(x, gate: .exponential, options: ChunkwiseOptions(chunkSize: 8))
        #expect(inference.h.shape == [1, 1, 40, 4])
        let training = try Chunkwise.trainingForward(x, gate: .exponential, stateStride: 2, options: ChunkwiseOptions(chunkSize: 8))
        #expect(training.chunkStates.c.shape == [1, 1, 3, 4, 4])
        #expect(training.chunkStates.chunkSize == 8 && training.chunkStates.stride == 2)
    }

    @Test func invalidOptionsAreRefused() {
        let x = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 1, sequence: 4, keyDim: 2, valueDim: 2))
        for (options, name) in [(ChunkwiseOptions(chunkSize: 0), "chunkSize"), (ChunkwiseOptions(queryTile: 0), "queryTile"),
                                (ChunkwiseOptions(keyTile: -1), "keyTile"), (ChunkwiseOptions(valueDimTile: 0), "valueDimTile"),
                                (ChunkwiseOptions(threads: 0), "threads"),
                                (ChunkwiseOptions(keyDimTile: 0), "keyDimTile")] {
            #expect {
                try Chunkwise.forward(x, gate: .exponential, options: options)
            } throws: { error in
                guard case let .invalidParameter(got, _, _) = error as? TFLAError else { return false }
                return got == name
            }
        }
        #expect(throws: TFLAError.invalidParameter(name: "stateStride", value: "0", requirement: "at least 1")) {
            try Chunkwise.trainingForward(x, gate: .exponential, stateStride: 0)
        }
    }
}
