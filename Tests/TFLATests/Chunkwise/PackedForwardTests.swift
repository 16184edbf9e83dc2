import Testing
import TFLA
import TFLATestSupport

@Suite("Packed variable-length forward")
struct PackedForwardTests {
    /// Packing sequences equals running each alone: no state leaks across
    /// boundaries, whatever the chunk size relative to the sequences.
    @Test(arguments: [[0, 1, 9, 30, 31, 50], [0, 50], [0, 17, 18, 40, 50]])
    func equalsEachSequenceAlone(offsets: [Int]) throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 50, keyDim: 5, valueDim: 7)
        for gates in GateDistribution.allCases {
            let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: UInt64(offsets.count))
            let count = offsets.count - 1
            for gate in allGates {
                let warm = MLSTMInputs<Double>.random(
                    ProblemShape(batch: 2, heads: 2, sequence: 4, keyDim: 5, valueDim: 7), gates: gates, seed: 5)
                let start = try Reference.recurrent(warm, gate: gate).state
                let initial = (0..<count).map { $0.isMultiple(of: 2) ? start : MLSTMState(zerosFor: shape) }
                for options in [ChunkwiseOptions(chunkSize: 8, queryTile: 4, keyTile: 4, valueDimTile: 3, threads: 3),
                                ChunkwiseOptions(chunkSize: 64)] {
                    let packed = try Chunkwise.forward(packed: x, sequenceOffsets: offsets, gate: gate,
                                                       initialStates: initial, options: options)
                    #expect(packed.states.count == count)
                    for r in 0..<count {
                        let range = offsets[r]..<offsets[r + 1]
                        let alone = try Reference.recurrent(x.sequenceSlice(range), gate: gate, initialState: initial[r])
                        #expect(maxMagnitude(alone.h) > 0)
                        #expect(try relativeError(packed.h.slicing(axis: 2, range), alone.h) <= 1e-10, "\(range) \(gate)")
                        #expect(relativeError(packed.states[r].c, alone.state.c) <= 1e-10)
                        #expect(relativeError(packed.states[r].n, alone.state.n) <= 1e-10)
                        #expect(relativeError(packed.states[r].m, alone.state.m) <= 1e-12)
                    }
                }
            }
        }
    }

    @Test func threadCountInvariance() throws {
        let x = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 3, sequence: 90, keyDim: 8, valueDim: 8), seed: 2)
        let results = try [1, 2, 7].map { threads in
            try Chunkwise.forward(packed: x, sequenceOffsets: [0, 20, 21, 90], gate: .exponential,
                                  options: ChunkwiseOptions(chunkSize: 16, threads: threads))
        }
        #expect(results[0].h == results[1].h && results[0].h == results[2].h)
        #expect(results[0].states[2].c == results[2].states[2].c)
    }

    @Test(arguments: [[Int](), [0], [1, 10], [0, 5, 5, 10], [0, 6, 4, 10], [0, 9], [0, 11]])
    func badOffsetsAreRefused(offsets: [Int]) {
        let x = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 1, sequence: 10, keyDim: 2, valueDim: 2))
        #expect {
            try Chunkwise.forward(packed: x, sequenceOffsets: offsets, gate: .exponential)
        } throws: { error in
            guard case let .invalidParameter(name, _, _) = error as? TFLAError else { return false }
            return name == "sequenceOffsets"
        }
    }

    @Test func otherArgumentsAreChecked() throws {
        let x = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 1, sequence: 10, keyDim: 2, valueDim: 2))
        #expect(throws: TFLAError.invalidParameter(name: "initialStates", value: "1 states", requirement: "one per sequence (2)")) {
            try Chunkwise.forward(packed: x, sequenceOffsets: [0, 4, 10], gate: .exponential,
                                  initialStates: [MLSTMState(zerosFor: ProblemShape(batch: 1, heads: 1, sequence: 1, keyDim: 2, valueDim: 2))])
        }
        // Options say nothing about training: the training tiling is an
        // ordinary tiling for the packed forward too.
        let packed = try Chunkwise.forward(packed: x, sequenceOffsets: [0, 10], gate: .exponential, options: .training)
        #expect(packed.h.shape == [1, 1, 10, 2] && packed.states.count == 1)
    }
}
