import Testing
import TFLA
import TFLATestSupport

@Suite("Segment-parallel scan and segment summaries")
struct SegmentScanTests {
    /// Forced segment counts (beyond the chunk count too), in both modes,
    /// equal the recurrent form: h, final state and saved states.
    @Test(arguments: [2, 3, 5, 1000], ForwardKind.allCases)
    func segmentsMatchRecurrent(segments: Int, mode: ForwardKind) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 61, keyDim: 6, valueDim: 10)
        for gates in GateDistribution.allCases {
            let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: UInt64(segments))
            let warmup = MLSTMInputs<Double>.random(
                ProblemShape(batch: 1, heads: 2, sequence: 4, keyDim: 6, valueDim: 10), gates: gates, seed: 41)
            for gate in allGates {
                for initial in [nil, try Reference.recurrent(warmup, gate: gate).state] {
                    let expected = try Reference.recurrent(x, gate: gate, initialState: initial)
                    let options = ChunkwiseOptions(chunkSize: 5, queryTile: 3, keyTile: 2, valueDimTile: 4, segments: segments)
                    let result = try chunkwiseForward(mode, x, gate: gate, initialState: initial, stateStride: 2, options: options)
                    let context = "\(gate) \(gates) segments \(segments) \(mode) initial \(initial != nil)"
                    expectMatchesRecurrent(result.h, result.state, expected, context)
                    guard mode == .training else { continue }
                    try expectSavedStatesMatchRecurrent(try #require(result.chunkStates), x, gate: gate, initialState: initial,
                                                        chunkSize: 5, stride: 2, context)
                }
            }
        }
    }

    /// The automatic decomposition planned for many workers computes the
    /// same function: segments of whole columns for one head; column tiles,
    /// then segments, for two heads.
    @Test(arguments: [1, 2, 16, 64], [1, 2])
    func plannedParallelismMatchesRecurrent(parallelism: Int, heads: Int) throws {
        let shape = ProblemShape(batch: 1, heads: heads, sequence: 300, keyDim: 8, valueDim: 256)
        let x = MLSTMInputs<Double>.random(shape, gates: .extreme, seed: 9)
        for gate in allGates {
            let expected = try Reference.recurrent(x, gate: gate)
            for mode in ForwardKind.allCases {
                let options = ChunkwiseOptions(chunkSize: 8, parallelism: parallelism)
                let result = try chunkwiseForward(mode, x, gate: gate, stateStride: 1, options: options)
                #expect(relativeError(result.h, expected.h) <= 1e-10, "\(gate) P=\(parallelism) \(mode)")
                #expect(relativeError(result.state.c, expected.state.c) <= 1e-10)
                #expect(relativeError(result.state.m, expected.state.m) <= 1e-12)
            }
        }
    }

    /// Bit-identical for 1, 2, 3, 7 and 16 threads given the same options,
    /// with the decomposition planned for 16 workers.
    @Test(arguments: ForwardKind.allCases)
    func threadCountInvarianceWithSegments(mode: ForwardKind) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 400, keyDim: 16, valueDim: 128)
        let x = MLSTMInputs<Float>.random(shape, seed: 6)
        var reference: ForwardResult<Float>?
        for threads in [1, 2, 3, 7, 16] {
            let options = ChunkwiseOptions(chunkSize: 16, threads: threads, parallelism: 16)
            let result = try chunkwiseForward(mode, x, gate: .exponential, stateStride: 2, options: options)
            if let reference {
                #expect(result.h == reference.h, "threads \(threads)")
                #expect(result.state.c == reference.state.c)
                #expect(result.state.n == reference.state.n)
                #expect(result.state.m == reference.state.m)
                #expect(result.chunkStates?.c == reference.chunkStates?.c)
            } else {
                reference = result
            }
        }
    }

    /// k segments summarized independently, composed in order, and each
    /// finished from its incoming state equal one run over the whole
    /// sequence: both gates, with an initial state, float64, ≤ 1e-10.
    @Test(arguments: [1, 2, 3, 7])
    func summariesComposeIntoTheSingleRun(pieces: Int) throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 90, keyDim: 5, valueDim: 7)
        for gates in GateDistribution.allCases {
            let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: UInt64(pieces) + 20)
            let warmup = MLSTMInputs<Double>.random(
                ProblemShape(batch: 2, heads: 2, sequence: 6, keyDim: 5, valueDim: 7), gates: gates, seed: 3)
            for gate in allGates {
                let initial = try Reference.recurrent(warmup, gate: gate).state
                let whole = try Reference.recurrent(x, gate: gate, initialState: initial)
                let cuts = (0...pieces).map { $0 * 90 / pieces }
                let slices = try zip(cuts, cuts.dropFirst()).map { try x.sequenceSlice($0..<$1) }
                // Summaries first, independently of each other (chunk sizes
                // and segment counts may differ per piece).
                let summaries = try slices.enumerated().map { index, slice in
                    try Chunkwise.summary(of: slice, gate: gate,
                                          options: ChunkwiseOptions(chunkSize: 4 + index, segments: 1 + index % 3))
                }
                var incoming = initial
                for (index, (slice, summary)) in zip(slices, summaries).enumerated() {
                    let part = try Chunkwise.forward(slice, gate: gate, initialState: incoming,
                                                     options: ChunkwiseOptions(chunkSize: 8))
                    let expected = try whole.h.slicing(axis: 2, cuts[index]..<cuts[index + 1])
                    #expect(relativeError(part.h, expected) <= 1e-10, "\(gate) \(gates) pieces \(pieces)")
                    incoming = try Chunkwise.compose(summary, after: incoming)
                }
                #expect(relativeError(incoming.c, whole.state.c) <= 1e-10, "c \(gate) \(gates)")
                #expect(relativeError(incoming.n, whole.state.n) <= 1e-10, "n \(gate) \(gates)")
                #expect(relativeError(incoming.m, whole.state.m) <= 1e-12, "m \(gate) \(gates)")
            }
        }
    }

    /// The empty-state convention: composing onto nil is composing onto
    /// zeros with m = 0, as the forward's default initial state.
    @Test func composeOntoTheDefaultState() throws {
        let shape = ProblemShape(batch: 1, heads: 1, sequence: 20, keyDim: 3, valueDim: 4)
        let x = MLSTMInputs<Double>.random(shape, gates: .extreme, seed: 8)
        let expected = try Reference.recurrent(x, gate: .exponential).state
        let state = try Chunkwise.compose(try Chunkwise.summary(of: x, gate: .exponential,
                                                                options: ChunkwiseOptions(chunkSize: 3)))
        #expect(relativeError(state.c, expected.c) <= 1e-10)
        #expect(relativeError(state.m, expected.m) <= 1e-12)
        #expect(maxMagnitude(expected.c) > 0)
    }

    @Test func composeRefusesMismatchedState() throws {
        let x = MLSTMInputs<Double>.random(ProblemShape(batch: 1, heads: 1, sequence: 5, keyDim: 3, valueDim: 4))
        let summary = try Chunkwise.summary(of: x, gate: .exponential)
        let wrong = MLSTMState<Double>(zerosFor: ProblemShape(batch: 1, heads: 2, sequence: 1, keyDim: 3, valueDim: 4))
        #expect {
            try Chunkwise.compose(summary, after: wrong)
        } throws: { error in
            guard case let .shapeMismatch(argument, _, _) = error as? TFLAError else { return false }
            return argument == "state c"
        }
    }
}
