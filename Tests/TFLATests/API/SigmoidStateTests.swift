import Foundation
import Testing
import TFLA
import TFLATestSupport

/// The sigmoid gate's state is (C, n): m may be left out, must be zero if
/// given, and comes back as zeros.
@Suite("Sigmoid-gate state contract")
struct SigmoidStateTests {
    static let shape = ProblemShape(batch: 2, heads: 3, sequence: 29, keyDim: 8, valueDim: 6)

    @Test func twoPartStateHasZeroStabilizer() {
        let zeros = MLSTMState<Double>(zerosFor: Self.shape)
        let state = MLSTMState(c: zeros.c, n: zeros.n)
        #expect(state.m.shape == [2, 3, 1])
        #expect(state.m.scalars.allSatisfy { $0 == 0 })
    }

    @Test func optionalPartsPerGate() throws {
        let parts = MLSTMState<Double>(zerosFor: Self.shape)
        let sig = Gate.sigmoid(normalize: true)
        // Sigmoid: (c0, n0) is complete, a zero m0 is accepted.
        let cn = try #require(try MLSTMState(c: parts.c, n: parts.n, m: nil, gate: sig))
        #expect(cn.m.shape == [2, 3, 1])
        #expect(try MLSTMState(c: parts.c, n: parts.n, m: parts.m, gate: sig) != nil)
        #expect(try MLSTMState<Double>(c: nil, n: nil, m: nil, gate: sig) == nil)
        #expect(throws: TFLAError.incompleteInitialState(given: ["c0"], missing: ["n0"])) {
            try MLSTMState(c: parts.c, n: nil, m: nil, gate: sig)
        }
        // A nonzero m0 is refused by name.
        var m = parts.m
        m.withUnsafeMutableBufferPointer { $0[4] = -0.5 }
        do {
            _ = try MLSTMState(c: parts.c, n: parts.n, m: m, gate: sig)
            Issue.record("a nonzero m0 was accepted")
        } catch {
            guard case let .invalidParameter(name, value, _) = error else { throw error }
            #expect(name == "m0")
            #expect(value.contains("0.5"))
            #expect(error.description.hasPrefix("m0 = nonzero"))
        }
        // Exponential: all three, as before.
        #expect(throws: TFLAError.incompleteInitialState(given: ["c0", "n0"], missing: ["m0"])) {
            try MLSTMState(c: parts.c, n: parts.n, m: nil, gate: .exponential)
        }
        #expect(try MLSTMState(c: parts.c, n: parts.n, m: m, gate: .exponential)?.m == m)
        let message = TFLAError.incompleteInitialState(given: ["c0"], missing: ["n0"]).description
        #expect(message.contains("give c0 and n0 together"))
    }

    /// Running the second part of a sequence from the (c, n) the first part
    /// ended in gives the outputs and state of the whole sequence.
    @Test(arguments: [true, false])
    func stateRoundTrip(normalize: Bool) throws {
        let gate = Gate.sigmoid(normalize: normalize)
        let x = MLSTMInputs<Double>.random(Self.shape, gates: .extreme, seed: 21)
        let whole = try Chunkwise.forward(x, gate: gate, options: ChunkwiseOptions(chunkSize: 8))
        let first = try Chunkwise.forward(try x.sequenceSlice(0..<11), gate: gate, options: ChunkwiseOptions(chunkSize: 8))
        #expect(first.state.m.scalars.allSatisfy { $0 == 0 })
        let carried = MLSTMState(c: first.state.c, n: first.state.n)
        let second = try Chunkwise.forward(try x.sequenceSlice(11..<29), gate: gate, initialState: carried,
                                           options: ChunkwiseOptions(chunkSize: 8))
        #expect(relativeError(second.h, try whole.h.slicing(axis: 2, 11..<29)) <= 1e-12)
        #expect(relativeError(second.state.c, whole.state.c) <= 1e-12)
        #expect(relativeError(second.state.n, whole.state.n) <= 1e-12)
        #expect(second.state.m.scalars.allSatisfy { $0 == 0 })
        #expect(maxMagnitude(carried.c) > 0.1)
        let recurrent = try Reference.recurrent(try x.sequenceSlice(11..<29), gate: gate, initialState: carried)
        #expect(relativeError(recurrent.h, second.h) <= 1e-10)
    }

    /// With a (c, n) initial state the gradient of m0 is zero in both
    /// modes, and the chunkwise gradients match the recurrent ones.
    @Test func gradientsFromTwoPartState() throws {
        let gate = Gate.sigmoid(normalize: true)
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 22)
        let warm = try Reference.recurrent(try x.sequenceSlice(0..<7), gate: gate).state
        let initial = MLSTMState(c: warm.c, n: warm.n)
        let dh = MLSTMInputs<Double>.random(Self.shape, seed: 23).v
        let options = ChunkwiseOptions(chunkSize: 8)
        let exact = try Chunkwise.gradients(x, gate: gate, initialState: initial, dh: dh, stateStride: 1, options: options).gradients
        let recurrent = try Reference.recurrentBackward(x, gate: gate, initialState: initial, dh: dh)
        for (name, a, b) in [("dq", exact.dq, recurrent.dq), ("dk", exact.dk, recurrent.dk), ("df", exact.df, recurrent.df),
                             ("dc0", exact.dInitialState.c, recurrent.dInitialState.c), ("dn0", exact.dInitialState.n, recurrent.dInitialState.n)] {
            #expect(relativeError(a, b) <= 1e-10, "\(name)")
        }
        #expect(maxMagnitude(exact.dInitialState.n) > 1e-3)
        let reference = try Chunkwise.gradients(x, gate: gate, initialState: initial, dh: dh, mode: .reference,
                                                stateStride: 1, options: options).gradients
        for g in [exact.dInitialState.m, recurrent.dInitialState.m, reference.dInitialState.m] {
            #expect(g.shape == [2, 3, 1] && g.scalars.allSatisfy { $0 == 0 })
        }
    }

    /// A saved sigmoid-gate state loads without m.npy; the exponential gate
    /// still needs it.
    @Test func loadWithoutStabilizer() throws {
        let directory = NSTemporaryDirectory() + "tfla-sig-state-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let gate = Gate.sigmoid(normalize: true)
        let warm = try Reference.recurrent(MLSTMInputs<Double>.random(Self.shape, seed: 24), gate: gate).state
        try NPY.write(warm.c, to: directory + "/c.npy")
        try NPY.write(warm.n, to: directory + "/n.npy")
        let loaded = try InferenceState<Double>.load(from: directory, gate: gate)
        #expect(loaded.snapshot().c == warm.c && loaded.snapshot().n == warm.n)
        #expect(loaded.snapshot().m.shape == [2, 3, 1] && loaded.snapshot().m.scalars.allSatisfy { $0 == 0 })
        #expect(throws: NPYError(path: directory + "/m.npy", problem: .unreadable("no such file or directory"))) {
            try InferenceState<Double>.load(from: directory, gate: .exponential)
        }
        try NPY.write(Tensor<Double>(shape: [2, 3, 1], repeating: 2), to: directory + "/m.npy")
        #expect(throws: NPYError(path: directory, problem: .invalidState(TFLAError.invalidParameter(name: "m", value: "nonzero (max |m| = 2.0)", requirement: "all zeros for the sigmoid gate, whose state is (c, n) with no stabilizer; leave it out")))) {
            try InferenceState<Double>.load(from: directory, gate: gate)
        }
    }
}
