import Testing
import TFLA
import TFLATestSupport

@Suite("Packed variable-length backward")
struct PackedBackwardTests {
    /// Each packed sequence's gradients equal the recurrent backward of that
    /// sequence alone, with its own initial state and final-state gradients.
    @Test(arguments: [[0, 1, 9, 30, 31, 40], [0, 40], [0, 17, 40]])
    func equalsEachSequenceAlone(offsets: [Int]) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 40, keyDim: 4, valueDim: 5)
        let count = offsets.count - 1
        for gate in allGates {
            let x = MLSTMInputs<Double>.random(shape, gates: .extreme, seed: UInt64(offsets.count))
            let dh = MLSTMInputs<Double>.random(shape, seed: 3).v
            let warm = MLSTMInputs<Double>.random(ProblemShape(batch: 1, heads: 2, sequence: 4, keyDim: 4, valueDim: 5), seed: 5)
            let start = try Reference.recurrent(warm, gate: gate).state
            // Non-zero states everywhere: a one-token sequence from a zero
            // state would not depend on f at all.
            let initial = (0..<count).map { _ in start }
            let w = MLSTMInputs<Double>.random(ProblemShape(batch: 1, heads: 2, sequence: 4, keyDim: 4, valueDim: 5), seed: 6)
            let finalGradient = MLSTMState(c: try w.v.slicing(axis: 2, 0..<4), n: try w.k.slicing(axis: 2, 0..<1).reshaped([1, 2, 4]),
                                           m: gate.isStabilized ? try w.i.slicing(axis: 2, 0..<1) : Tensor(shape: [1, 2, 1]))
            let finals = (0..<count).map { _ in finalGradient }
            let options = ChunkwiseOptions(chunkSize: 8, queryTile: 4, keyTile: 4)
            let result = try Chunkwise.gradients(packed: x, sequenceOffsets: offsets, gate: gate, initialStates: initial,
                                                 dh: dh, dFinalStates: finals, stateStride: 2, options: options)
            let (output, g) = (result.output, result.gradients)
            #expect(output.states.count == count && g.dInitialStates.count == count)
            for r in 0..<count {
                let range = offsets[r]..<offsets[r + 1]
                let alone = try Reference.recurrentBackward(x.sequenceSlice(range), gate: gate, initialState: initial[r],
                                                            dh: dh.slicing(axis: 2, range), dFinalState: finals[r])
                for (name, packed, expected) in [("dq", g.dq, alone.dq), ("dk", g.dk, alone.dk), ("dv", g.dv, alone.dv),
                                                 ("di", g.di, alone.di), ("df", g.df, alone.df)] {
                    #expect(maxMagnitude(expected) > 0, "\(name)")
                    #expect(try relativeError(packed.slicing(axis: 2, range), expected) <= 1e-10, "\(name) \(range) \(gate)")
                }
                #expect(relativeError(g.dInitialStates[r].c, alone.dInitialState.c) <= 1e-10)
                #expect(relativeError(g.dInitialStates[r].n, alone.dInitialState.n) <= 1e-10)
                #expect(relativeError(g.dInitialStates[r].m, alone.dInitialState.m) <= 1e-10)
                let forward = try Reference.recurrent(x.sequenceSlice(range), gate: gate, initialState: initial[r])
                #expect(try relativeError(output.h.slicing(axis: 2, range), forward.h) <= 1e-10)
            }
        }
    }

    @Test func rejectsMismatchedStateLists() throws {
        let shape = ProblemShape(batch: 1, heads: 1, sequence: 10, keyDim: 2, valueDim: 2)
        let x = MLSTMInputs<Double>.random(shape, seed: 1)
        #expect(throws: TFLAError.invalidParameter(name: "dFinalStates", value: "1 states", requirement: "one per sequence (2)")) {
            try Chunkwise.gradients(packed: x, sequenceOffsets: [0, 4, 10], gate: .exponential, dh: x.v,
                                    dFinalStates: [MLSTMState(zerosFor: shape)])
        }
        #expect(throws: TFLAError.invalidParameter(name: "sequenceOffsets", value: "[0, 4, 9]",
                                                   requirement: "strictly increasing from 0 to S = 10, with at least one sequence")) {
            try Chunkwise.gradients(packed: x, sequenceOffsets: [0, 4, 9], gate: .exponential, dh: x.v)
        }
    }
}
