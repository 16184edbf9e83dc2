import Foundation
import Testing
import TFLA
import TFLATestSupport

@Suite("Inference state")
struct InferenceStateTests {
    /// Token t of a sequence as step inputs.
    static func token(_ x: MLSTMInputs<Double>, _ t: Int) throws -> (q: Tensor<Double>, k: Tensor<Double>, v: Tensor<Double>, i: Tensor<Double>, f: Tensor<Double>) {
        let s = try x.sequenceSlice(t..<(t + 1))
        let (b, nh, dqk, dhv) = (x.q.shape[0], x.q.shape[1], x.q.shape[3], x.v.shape[3])
        return (try s.q.reshaped([b, nh, dqk]), try s.k.reshaped([b, nh, dqk]), try s.v.reshaped([b, nh, dhv]),
                try s.i.reshaped([b, nh, 1]), try s.f.reshaped([b, nh, 1]))
    }

    /// The fused step equals the reference step, including when C's columns
    /// are split across workers (few heads, wide values).
    @Test(arguments: [ProblemShape(batch: 2, heads: 3, sequence: 1, keyDim: 8, valueDim: 12),
                      ProblemShape(batch: 1, heads: 1, sequence: 1, keyDim: 16, valueDim: 256)])
    func stepMatchesReference(shape: ProblemShape) throws {
        for gates in GateDistribution.allCases {
            let warm = MLSTMInputs<Double>.random(
                ProblemShape(batch: shape.batch, heads: shape.heads, sequence: 9, keyDim: shape.keyDim, valueDim: shape.valueDim),
                gates: gates, seed: 21)
            for gate in allGates {
                let state = try Reference.recurrent(warm, gate: gate).state
                let x = try Self.token(warm, 4)
                let expected = try Reference.step(q: x.q, k: x.k, v: x.v, i: x.i, f: x.f, state: state, gate: gate)
                let inference = try InferenceState(state, gate: gate)
                let h = try inference.step(q: x.q, k: x.k, v: x.v, i: x.i, f: x.f)
                let next = inference.snapshot()
                #expect(maxMagnitude(expected.h) > 0)
                #expect(relativeError(h, expected.h) <= 1e-12, "\(gate) \(gates)")
                #expect(relativeError(next.c, expected.state.c) <= 1e-13)
                #expect(relativeError(next.n, expected.state.n) <= 1e-13)
                #expect(relativeError(next.m, expected.state.m) <= 1e-14)
            }
        }
    }

    /// prefill(all) = prefill(first j) + prefill(rest) = prefill(first j) + steps.
    @Test(arguments: [1, 7, 16, 29])
    func prefillSplitsAndStepsAgree(split: Int) throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 30, keyDim: 6, valueDim: 10)
        for gates in GateDistribution.allCases {
            let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: UInt64(split))
            for gate in allGates {
                let options = ChunkwiseOptions(chunkSize: 8, queryTile: 4, keyTile: 4)
                let whole = try InferenceState<Double>(batch: 2, heads: 2, keyDim: 6, valueDim: 10, gate: gate)
                let hWhole = try whole.prefill(x, options: options)

                let parts = try InferenceState<Double>(batch: 2, heads: 2, keyDim: 6, valueDim: 10, gate: gate)
                _ = try parts.prefill(x.sequenceSlice(0..<split), options: options)
                let hRest = try parts.prefill(x.sequenceSlice(split..<30), options: options)

                let stepped = try InferenceState<Double>(batch: 2, heads: 2, keyDim: 6, valueDim: 10, gate: gate)
                _ = try stepped.prefill(x.sequenceSlice(0..<split), options: options)
                var h = Tensor<Double>(shape: [2, 2, 10])
                for t in split..<30 {
                    let token = try Self.token(x, t)
                    try stepped.step(q: token.q, k: token.k, v: token.v, i: token.i, f: token.f, into: &h)
                    let expected = try hWhole.slicing(axis: 2, t..<(t + 1)).reshaped([2, 2, 10])
                    #expect(relativeError(h, expected) <= 1e-10, "step \(t) \(gate) \(gates)")
                }
                #expect(try relativeError(hRest, hWhole.slicing(axis: 2, split..<30)) <= 1e-10)
                for other in [parts, stepped] {
                    #expect(other.tokens == 30)
                    #expect(relativeError(other.snapshot().c, whole.snapshot().c) <= 1e-10)
                    #expect(relativeError(other.snapshot().n, whole.snapshot().n) <= 1e-10)
                    #expect(relativeError(other.snapshot().m, whole.snapshot().m) <= 1e-12)
                }
            }
        }
    }

    @Test func snapshotRestoreAndFiles() throws {
        let x = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 2, sequence: 12, keyDim: 4, valueDim: 5), seed: 8)
        let inference = try InferenceState<Float>(batch: 1, heads: 2, keyDim: 4, valueDim: 5, gate: .exponential)
        _ = try inference.prefill(x.sequenceSlice(0..<6))
        let saved = inference.snapshot()
        let rest = try x.sequenceSlice(6..<12)
        let first = try inference.prefill(rest)
        try inference.restore(saved, tokens: 6)
        #expect(try inference.prefill(rest) == first)
        #expect(inference.tokens == 12)

        let directory = NSTemporaryDirectory() + "tfla-state-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try inference.save(to: directory)
        let loaded = try InferenceState<Float>.load(from: directory, gate: .exponential)
        #expect(loaded.snapshot().c == inference.snapshot().c)
        #expect(loaded.snapshot().m == inference.snapshot().m)
    }

    /// Bit-identical steps for any thread count. The state (4 MiB in
    /// float64) is large enough for the step to use up to 8 workers of its
    /// persistent team, with a different share of C per worker each time.
    @Test func stepIsThreadCountInvariant() throws {
        let shape = ProblemShape(batch: 1, heads: 4, sequence: 3, keyDim: 256, valueDim: 512)
        let x = MLSTMInputs<Double>.random(shape, seed: 9)
        var results: [[Tensor<Double>]] = []
        var finals: [MLSTMState<Double>] = []
        for threads in [1, 2, 3, 7, 16] {
            let inference = try InferenceState<Double>(batch: 1, heads: 4, keyDim: 256, valueDim: 512, gate: .exponential)
            inference.threads = threads
            results.append(try (0..<3).map { t in
                let token = try Self.token(x, t)
                return try inference.step(q: token.q, k: token.k, v: token.v, i: token.i, f: token.f)
            })
            finals.append(inference.snapshot())
        }
        #expect(maxMagnitude(results[0][2]) > 0)
        for (other, state) in zip(results.dropFirst(), finals.dropFirst()) {
            #expect(other.elementsEqual(results[0]))
            #expect(state.c == finals[0].c && state.n == finals[0].n && state.m == finals[0].m)
        }
    }

    @Test func badArgumentsAreRefused() throws {
        #expect(throws: TFLAError.invalidParameter(name: "heads", value: "0", requirement: "at least 1")) {
            try InferenceState<Float>(batch: 1, heads: 0, keyDim: 4, valueDim: 4, gate: .exponential)
        }
        let inference = try InferenceState<Float>(batch: 1, heads: 2, keyDim: 4, valueDim: 5, gate: .exponential)
        let g = Tensor<Float>(shape: [1, 2, 1])
        #expect(throws: TFLAError.shapeMismatch(argument: "v", expected: [1, 2, 5], given: [1, 2, 4])) {
            try inference.step(q: Tensor(shape: [1, 2, 4]), k: Tensor(shape: [1, 2, 4]), v: Tensor(shape: [1, 2, 4]), i: g, f: g)
        }
        let wrongHeads = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 3, sequence: 4, keyDim: 4, valueDim: 5))
        #expect(throws: TFLAError.shapeMismatch(argument: "q", expected: [1, 2, 4, 4], given: [1, 3, 4, 4])) { try inference.prefill(wrongHeads) }
        #expect(inference.tokens == 0)
    }
}

@Suite("Inference state with 16-bit memory")
struct HalfMemoryStateTests {
    /// Prefill 64 tokens, then 192 steps with C stored in 16 bits, against
    /// float64 of the same inputs. Returns the worst relative error of the
    /// step outputs and of the final C.
    static func errors(_ storage: MemoryStorage, gate: Gate) throws -> (h: Double, c: Double) {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 256, keyDim: 16, valueDim: 32)
        let x32 = MLSTMInputs<Float>.random(shape, seed: 17)
        let x64 = x32.converted(to: Double.self)
        let expected = try Reference.recurrent(x64, gate: gate)
        let state = try InferenceState<Float>(batch: 1, heads: 2, keyDim: 16, valueDim: 32, gate: gate, memoryStorage: storage)
        _ = try state.prefill(x32.sequenceSlice(0..<64))
        var worst = 0.0
        var h = Tensor<Float>(shape: [1, 2, 32])
        for t in 64..<256 {
            let s = try x32.sequenceSlice(t..<(t + 1))
            try state.step(q: s.q.reshaped([1, 2, 16]), k: s.k.reshaped([1, 2, 16]), v: s.v.reshaped([1, 2, 32]),
                           i: s.i.reshaped([1, 2, 1]), f: s.f.reshaped([1, 2, 1]), into: &h)
            worst = max(worst, relativeError(h, try expected.h.slicing(axis: 2, t..<(t + 1)).reshaped([1, 2, 32])))
        }
        return (worst, relativeError(state.snapshot().c, expected.state.c))
    }

    @Test(arguments: [Gate.exponential, .sigmoid(normalize: true)])
    func errorAgainstFloat64(gate: Gate) throws {
        let native = try Self.errors(.native, gate: gate)
        let half = try Self.errors(.float16, gate: gate)
        let brain = try Self.errors(.bfloat16, gate: gate)
        #expect(native.h <= 1e-5 && native.c <= 1e-5)
        #expect(half.h <= 5e-3 && half.c <= 5e-3 && half.h > native.h)
        #expect(brain.h <= 6e-2 && brain.c <= 2e-2 && brain.h > half.h)
    }

    @Test func memoryIsStoredAndRestored() throws {
        let state = try InferenceState<Float>(batch: 1, heads: 1, keyDim: 4, valueDim: 8, gate: .exponential, memoryStorage: .bfloat16)
        let x = MLSTMInputs<Float>.random(ProblemShape(batch: 1, heads: 1, sequence: 10, keyDim: 4, valueDim: 8), seed: 2)
        _ = try state.prefill(x)
        let saved = state.snapshot()
        #expect(saved.c.shape == [1, 1, 4, 8])
        #expect(maxMagnitude(saved.c) > 0)
        // Stored values are bfloat16: widening what was narrowed is exact.
        try state.restore(saved, tokens: 10)
        #expect(state.snapshot().c == saved.c)
        #expect(throws: TFLAError.unsupported("16-bit memory storage needs Float computation, not float64")) {
            try InferenceState<Double>(batch: 1, heads: 1, keyDim: 4, valueDim: 8, gate: .exponential, memoryStorage: .float16)
        }
    }
}
