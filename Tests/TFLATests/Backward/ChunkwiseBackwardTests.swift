import Testing
import TFLA
import TFLATestSupport

/// The chunkwise backward against the exact recurrent backward (itself
/// checked against finite differences), across tilings, gates and states.
@Suite("Chunkwise backward")
struct ChunkwiseBackwardTests {
    struct Case {
        var x: MLSTMInputs<Double>
        var state: MLSTMState<Double>?
        var dh: Tensor<Double>
        var dFinalState: MLSTMState<Double>?
    }

    /// A random problem; the initial state comes from a warm-up sequence and
    /// the upstream gradients of the final state are random.
    static func makeCase(_ shape: ProblemShape, gate: Gate, gates: GateDistribution = .realistic, seed: UInt64,
                         initialState: Bool, finalGradients: Bool) throws -> Case {
        let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: seed)
        var warmShape = shape
        warmShape.sequence = 5
        let state = initialState
            ? try Reference.recurrent(MLSTMInputs<Double>.random(warmShape, gates: gates, seed: seed + 1), gate: gate).state
            : nil
        let dh = MLSTMInputs<Double>.random(shape, seed: seed + 2).v
        var dFinalState: MLSTMState<Double>?
        if finalGradients {
            var stateShape = shape
            stateShape.sequence = shape.keyDim
            let w = MLSTMInputs<Double>.random(stateShape, seed: seed + 3)
            var m = try w.i.slicing(axis: 2, 0..<1)
            if !gate.isStabilized { m = Tensor(shape: m.shape) }
            dFinalState = MLSTMState(c: w.v, n: try w.k.slicing(axis: 2, 0..<1).reshaped(shape.normalizerShape), m: m)
        }
        return Case(x: x, state: state, dh: dh, dFinalState: dFinalState)
    }

    static func expectClose(_ g: MLSTMGradients<Double>, _ reference: MLSTMGradients<Double>, tolerance: Double,
                            initialState: Bool, _ label: String) {
        var pairs = [("dq", g.dq, reference.dq), ("dk", g.dk, reference.dk), ("dv", g.dv, reference.dv),
                     ("di", g.di, reference.di), ("df", g.df, reference.df)]
        if initialState { pairs += [("dc0", g.dInitialState.c, reference.dInitialState.c), ("dn0", g.dInitialState.n, reference.dInitialState.n), ("dm0", g.dInitialState.m, reference.dInitialState.m)] }
        for (name, value, expected) in pairs {
            let error = relativeError(value, expected)
            #expect(error <= tolerance, "\(name) \(label): \(error)")
        }
    }

    static let tilings: [TrainingTiling] = [
        TrainingTiling(chunkSize: 4, queryTile: 4, keyTile: 4),
        TrainingTiling(chunkSize: 5, queryTile: 2, keyTile: 3, stateStride: 2),
        TrainingTiling(chunkSize: 1, queryTile: 1, keyTile: 1, stateStride: 3),
        TrainingTiling(chunkSize: 7, queryTile: 3, keyTile: 2, stateStride: 4, threads: 3),
        TrainingTiling(chunkSize: 64),  // larger than S
        TrainingTiling(chunkSize: 6, queryTile: 4, keyTile: 4, valueDimTile: 4, stateStride: 2),  // 2 column tiles
        // Planned for 64 workers: segments and shared scores in the
        // training forward.
        TrainingTiling(chunkSize: 3, queryTile: 2, keyTile: 2, valueDimTile: 2, stateStride: 2, parallelism: 64),
    ]

    /// One head: the backward runs in phases; 4 heads: it walks per head
    /// while the forward (without column tiles) runs its state and output
    /// kernels; 8 heads: both walk (`Chunkwise.runTraining`, `Chunkwise.backward`).
    @Test(arguments: [GateDistribution.realistic, .extreme], [(1, 1), (2, 2), (2, 4)])
    func exactModeMatchesTheRecurrentBackward(gates: GateDistribution, batchHeads: (Int, Int)) throws {
        let shape = ProblemShape(batch: batchHeads.0, heads: batchHeads.1, sequence: 23, keyDim: 5, valueDim: 6)
        for gate in allGates {
            for (initial, final) in [(false, false), (true, true), (true, false), (false, true)] {
                let c = try Self.makeCase(shape, gate: gate, gates: gates, seed: 11, initialState: initial, finalGradients: final)
                let expected = try Reference.recurrentBackward(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState)
                for tiling in Self.tilings {
                    let g = try Chunkwise.gradients(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState,
                                                    stateStride: tiling.stateStride, options: tiling.options).gradients
                    Self.expectClose(g, expected, tolerance: 1e-10, initialState: initial,
                                     "\(gate) \(gates) initial \(initial) final \(final) L \(tiling.chunkSize) stride \(tiling.stateStride)")
                }
            }
        }
    }

    /// The segment-parallel reverse scan (blocks of saved-state segments,
    /// forced with `segments`) equals the recurrent backward: both modes'
    /// exact one here, every gate, initial state and final-state gradients;
    /// and gives the same bits for any thread count.
    @Test(arguments: [2, 3, 5, 100], [1, 2, 3])
    func blocksMatchTheRecurrentBackward(blocks: Int, stride: Int) throws {
        let shape = ProblemShape(batch: 1, heads: 3, sequence: 41, keyDim: 5, valueDim: 7)
        for gates in GateDistribution.allCases {
            for gate in allGates {
                let c = try Self.makeCase(shape, gate: gate, gates: gates, seed: UInt64(blocks * 10 + stride),
                                          initialState: true, finalGradients: true)
                let expected = try Reference.recurrentBackward(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState)
                let options = ChunkwiseOptions(chunkSize: 3, queryTile: 2, keyTile: 3, segments: blocks)
                let g = try Chunkwise.gradients(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState,
                                                stateStride: stride, options: options).gradients
                Self.expectClose(g, expected, tolerance: 1e-10, initialState: true,
                                 "\(gate) \(gates) blocks \(blocks) stride \(stride)")
            }
        }
        let c = try Self.makeCase(shape, gate: .exponential, seed: 5, initialState: true, finalGradients: true)
        var results: [MLSTMGradients<Double>] = []
        for threads in [1, 2, 3, 7, 16] {
            let options = ChunkwiseOptions(chunkSize: 3, threads: threads, segments: blocks)
            results.append(try Chunkwise.gradients(c.x, gate: .exponential, initialState: c.state, dh: c.dh,
                                                   dFinalState: c.dFinalState, stateStride: stride, options: options).gradients)
        }
        for other in results.dropFirst() {
            #expect(other.dq == results[0].dq && other.dk == results[0].dk && other.dv == results[0].dv)
            #expect(other.di == results[0].di && other.df == results[0].df)
            #expect(other.dInitialState.c == results[0].dInitialState.c && other.dInitialState.n == results[0].dInitialState.n && other.dInitialState.m == results[0].dInitialState.m)
        }
        // Reference mode: blocks against the one walk per head.
        for gate in allGates {
            let r = try Self.makeCase(shape, gate: gate, seed: 6, initialState: true, finalGradients: true)
            func run(_ segments: Int) throws -> MLSTMGradients<Double> {
                try Chunkwise.gradients(r.x, gate: gate, initialState: r.state, dh: r.dh, dFinalState: r.dFinalState, mode: .reference,
                                        stateStride: stride, options: ChunkwiseOptions(chunkSize: 3, segments: segments)).gradients
            }
            Self.expectClose(try run(blocks), try run(1), tolerance: 1e-10, initialState: true, "reference \(gate)")
        }
    }

    /// Chunk sizes the reference package's GPU backward gets wrong (> 128),
    /// against the recurrent backward on a longer sequence.
    @Test(arguments: [256, 512, 1000, 1300])
    func largeChunksAreExact(chunkSize: Int) throws {
        let shape = ProblemShape(batch: 1, heads: 1, sequence: 1100, keyDim: 4, valueDim: 3)
        for gate in [Gate.exponential, .sigmoid(normalize: true)] {
            let c = try Self.makeCase(shape, gate: gate, seed: 5, initialState: true, finalGradients: true)
            let expected = try Reference.recurrentBackward(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState)
            let options = ChunkwiseOptions(chunkSize: chunkSize, queryTile: 96, keyTile: 160)
            let g = try Chunkwise.gradients(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState,
                                            stateStride: 2, options: options).gradients
            Self.expectClose(g, expected, tolerance: 1e-10, initialState: true, "\(gate) L \(chunkSize)")
        }
    }

    @Test func randomShapesMatchTheRecurrentBackward() throws {
        for seed in UInt64(0)..<12 {
            let shape = randomShape(seed: seed, maxSequence: 40, maxKeyDim: 9, maxValueDim: 9)
            let gate = allGates[Int(seed) % 3]
            let c = try Self.makeCase(shape, gate: gate, gates: seed % 2 == 0 ? .realistic : .extreme, seed: seed,
                                      initialState: seed % 3 != 0, finalGradients: seed % 4 != 0)
            let expected = try Reference.recurrentBackward(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState)
            var rng = SplitMix64(seed: seed)
            let options = TrainingTiling(
                chunkSize: Int.random(in: 1...48, using: &rng), queryTile: Int.random(in: 1...16, using: &rng),
                keyTile: Int.random(in: 1...16, using: &rng), stateStride: Int.random(in: 1...4, using: &rng))
            let g = try Chunkwise.gradients(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState,
                                            stateStride: options.stateStride, options: options.options).gradients
            Self.expectClose(g, expected, tolerance: 1e-10, initialState: c.state != nil, "seed \(seed) \(shape) \(options)")
        }
    }

    @Test(arguments: [(1, 1), (2, 2), (2, 4)])
    func resultsDoNotDependOnTheThreadCount(batchHeads: (Int, Int)) throws {
        let shape = ProblemShape(batch: batchHeads.0, heads: batchHeads.1, sequence: 50, keyDim: 8, valueDim: 12)
        for gate in allGates {
            let c = try Self.makeCase(shape, gate: gate, seed: 3, initialState: true, finalGradients: true)
            let x = c.x.converted(to: Float.self)
            let dh = c.dh.converted(to: Float.self)
            var results: [MLSTMGradients<Float>] = []
            for threads in [1, 2, 3, 7, 16] {
                let options = ChunkwiseOptions(chunkSize: 16, queryTile: 8, keyTile: 8, valueDimTile: 5,
                                               threads: threads, parallelism: 16)
                let state = c.state.map { MLSTMState<Float>(c: $0.c.converted(), n: $0.n.converted(), m: $0.m.converted()) }
                results.append(try Chunkwise.gradients(x, gate: gate, initialState: state, dh: dh, stateStride: 2,
                                                       options: options).gradients)
            }
            for other in results.dropFirst() {
                #expect(other.dq == results[0].dq && other.dk == results[0].dk && other.dv == results[0].dv)
                #expect(other.di == results[0].di && other.df == results[0].df && other.dInitialState.c == results[0].dInitialState.c)
            }
        }
    }

    /// Float32 against the Float64 gradient at S = 4096: gates drawn like a
    /// trained model's (≤ 1e-3), and extreme gates, where the normalizer is
    /// ill-conditioned and float32 forward outputs themselves err by ~5e-4
    /// (`Docs/testing.md`): measured 1.9e-5 (exact) and 1.1e-3 (reference),
    /// bound 3e-3 — it guards against overflow and lost stabilization.
    @Test(arguments: [GradientMode.exact, .reference], GateDistribution.allCases)
    func float32IsAccurate(mode: GradientMode, gates: GateDistribution) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 4096, keyDim: 32, valueDim: 32)
        let bound = gates == .realistic ? 1e-3 : 3e-3
        for gate in [Gate.exponential, .sigmoid(normalize: true)] {
            let c = try Self.makeCase(shape, gate: gate, gates: gates, seed: 21, initialState: false, finalGradients: false)
            // The reference sees the float32-rounded inputs.
            let (x32, dh32) = (c.x.converted(to: Float.self), c.dh.converted(to: Float.self))
            let expected = try Chunkwise.gradients(x32.converted(to: Double.self), gate: gate, dh: dh32.converted(to: Double.self),
                                                   mode: mode).gradients
            let g = try Chunkwise.gradients(x32, gate: gate, dh: dh32, mode: mode).gradients
            for (name, value, reference) in [("dq", g.dq, expected.dq), ("dk", g.dk, expected.dk), ("dv", g.dv, expected.dv),
                                             ("di", g.di, expected.di), ("df", g.df, expected.df)] {
                let error = relativeError(value, reference)
                #expect(error <= bound, "\(name) \(gate) \(mode) \(gates): \(error)")
            }
        }
    }

    /// With eps = 0 the reference-compatible gradient does not depend on the
    /// stabilizer, so the chunkwise and parallel forms must agree.
    @Test func referenceModeMatchesTheParallelForm() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 30, keyDim: 6, valueDim: 5)
        for gate in allGates {
            for gates in GateDistribution.allCases {
                let c = try Self.makeCase(shape, gate: gate, gates: gates, seed: 8, initialState: false, finalGradients: false)
                let expected = try Reference.parallelBackward(c.x, gate: gate, eps: 0, dh: c.dh, mode: .reference)
                let options = ChunkwiseOptions(chunkSize: 8, queryTile: 4, keyTile: 8)
                let g = try Chunkwise.gradients(c.x, gate: gate, eps: 0, dh: c.dh, mode: .reference, stateStride: 1,
                                                options: options).gradients
                Self.expectClose(g, expected, tolerance: 1e-10, initialState: false, "\(gate) \(gates)")
            }
        }
    }

    /// The backward takes the chunk size and stride from the saved states
    /// and refuses states that do not fit the inputs, naming the field.
    @Test func refusesChunkStatesThatDoNotFit() throws {
        let c = try Self.makeCase(ProblemShape(batch: 1, heads: 1, sequence: 8, keyDim: 3, valueDim: 2),
                                  gate: .exponential, seed: 1, initialState: false, finalGradients: false)
        let training = try Chunkwise.trainingForward(c.x, gate: .exponential, stateStride: 1,
                                                     options: ChunkwiseOptions(chunkSize: 4))
        #expect(training.chunkStates.chunkSize == 4 && training.chunkStates.stride == 1)
        #expect(throws: TFLAError.shapeMismatch(argument: "dh", expected: [1, 1, 8, 2], given: [1, 1, 8, 3])) {
            try Chunkwise.backward(c.x, gate: .exponential, forward: training, dh: c.x.q)
        }
        // A longer sequence: the states' chunk size of 8 (clipped to S = 8)
        // exceeds the 4 tokens of these inputs.
        let long = try Self.makeCase(ProblemShape(batch: 1, heads: 1, sequence: 16, keyDim: 3, valueDim: 2),
                                     gate: .exponential, seed: 2, initialState: false, finalGradients: false)
        let short = try Self.makeCase(ProblemShape(batch: 1, heads: 1, sequence: 4, keyDim: 3, valueDim: 2),
                                      gate: .exponential, seed: 3, initialState: false, finalGradients: false)
        var mixed = try Chunkwise.trainingForward(short.x, gate: .exponential, stateStride: 1,
                                                  options: ChunkwiseOptions(chunkSize: 2))
        mixed.chunkStates = try Chunkwise.trainingForward(c.x, gate: .exponential, stateStride: 1,
                                                          options: ChunkwiseOptions(chunkSize: 8)).chunkStates
        #expect(throws: TFLAError.invalidParameter(
            name: "forward.chunkStates.chunkSize", value: "8",
            requirement: "between 1 and S = 4: the chunk size of a forward over these inputs")) {
            try Chunkwise.backward(short.x, gate: .exponential, forward: mixed, dh: short.dh)
        }
        // States of another chunk size or stride whose count differs from
        // what that chunk size and stride give for these inputs.
        var other = try Chunkwise.trainingForward(long.x, gate: .exponential, stateStride: 1,
                                                  options: ChunkwiseOptions(chunkSize: 4))
        other.chunkStates = training.chunkStates  // 2 states of chunks of 4 tokens: 4 are needed for S = 16
        #expect(throws: TFLAError.shapeMismatch(argument: "forward.chunkStates.c", expected: [1, 1, 4, 3, 2],
                                                given: [1, 1, 2, 3, 2])) {
            try Chunkwise.backward(long.x, gate: .exponential, forward: other, dh: long.dh)
        }
        other.chunkStates = try Chunkwise.trainingForward(long.x, gate: .exponential, stateStride: 2,
                                                          options: ChunkwiseOptions(chunkSize: 4)).chunkStates
        other.h = training.h
        #expect(throws: TFLAError.shapeMismatch(argument: "forward.h", expected: [1, 1, 16, 2], given: [1, 1, 8, 2])) {
            try Chunkwise.backward(long.x, gate: .exponential, forward: other, dh: long.dh)
        }
    }

    /// `trainingForward` followed by `backward` is `gradients`, bit for
    /// bit, whatever the backward's own tiling (its chunk size comes from
    /// the states: the default is ignored, another is refused).
    @Test func trainingForwardThenBackwardIsGradients() throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 37, keyDim: 5, valueDim: 6)
        for gate in allGates {
            let c = try Self.makeCase(shape, gate: gate, seed: 9, initialState: true, finalGradients: true)
            for (stride, options) in [(4, ChunkwiseOptions.training), (1, ChunkwiseOptions(chunkSize: 5, queryTile: 2, keyTile: 3)),
                                      (3, ChunkwiseOptions(chunkSize: 4, valueDimTile: 4, parallelism: 8))] {
                let both = try Chunkwise.gradients(c.x, gate: gate, initialState: c.state, dh: c.dh, dFinalState: c.dFinalState,
                                                   stateStride: stride, options: options)
                let forward = try Chunkwise.trainingForward(c.x, gate: gate, initialState: c.state, stateStride: stride,
                                                            options: options)
                var backwardOptions = options
                backwardOptions.chunkSize = 1000
                if min(1000, shape.sequence) != forward.chunkStates.chunkSize {
                    #expect(throws: TFLAError.self) {
                        try Chunkwise.backward(c.x, gate: gate, initialState: c.state, forward: forward, dh: c.dh,
                                               dFinalState: c.dFinalState, options: backwardOptions)
                    }
                }
                backwardOptions.chunkSize = ChunkwiseOptions.default.chunkSize  // ignored: the states carry theirs
                let g = try Chunkwise.backward(c.x, gate: gate, initialState: c.state, forward: forward, dh: c.dh,
                                               dFinalState: c.dFinalState, options: backwardOptions)
                #expect(forward.h == both.output.h && forward.state.c == both.output.state.c)
                // The stride is clipped to the chunk count (one chunk of 37 tokens at L = 128).
                let chunks = (shape.sequence + options.chunkSize - 1) / options.chunkSize
                #expect(forward.chunkStates.c == both.output.chunkStates.c && forward.chunkStates.stride == min(stride, chunks))
                #expect(g.dq == both.gradients.dq && g.dk == both.gradients.dk && g.dv == both.gradients.dv)
                #expect(g.di == both.gradients.di && g.df == both.gradients.df)
                #expect(g.dInitialState.c == both.gradients.dInitialState.c && g.dInitialState.n == both.gradients.dInitialState.n
                        && g.dInitialState.m == both.gradients.dInitialState.m)
            }
        }
    }
}
