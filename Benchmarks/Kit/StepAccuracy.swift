import TFLA
import TFLATestSupport

/// Error of long generation with C stored in 16 bits (or natively) against
/// float64: `steps` float32 steps from a zero state, and the same inputs
/// stepped by a float64 state.
public enum StepAccuracy {
    public struct Checkpoint: Sendable {
        /// Tokens generated so far.
        public var tokens: Int
        /// Largest |h − h₆₄| over all steps so far, over the largest |h₆₄|
        /// so far (the measure of `Docs/oracle.md`).
        public var h: Double
        /// Largest |C − C₆₄| of the state after `tokens` steps, over its
        /// largest |C₆₄|.
        public var c: Double
    }

    /// The errors at each of `checkpoints` (ascending; the last is the
    /// number of steps). Inputs: `MLSTMInputs.random` with `gates`
    /// ("realistic" or "extreme", `GateDistribution`) and `seed`, drawn in
    /// float32, with `forgetShift` added to every forget pre-activation f̃
    /// (e.g. 5: realistic f̃ ~ N(8, 1), f = σ(f̃) ≈ 0.9997, a memory of
    /// thousands of tokens).
    public static func run(heads: Int, keyDim: Int, valueDim: Int, gate: Gate, gates: String,
                           memoryStorage: MemoryStorage, checkpoints: [Int], seed: UInt64 = 7,
                           forgetShift: Float = 0, threads: Int? = nil) throws -> [Checkpoint] {
        let steps = checkpoints.last ?? 0
        var x = MLSTMInputs<Float>.random(
            ProblemShape(batch: 1, heads: heads, sequence: steps, keyDim: keyDim, valueDim: valueDim),
            gates: GateDistribution(rawValue: gates) ?? .realistic, seed: seed)
        if forgetShift != 0 {
            x.f.withUnsafeMutableBufferPointer { f in
                for index in f.indices { f[index] += forgetShift }
            }
        }
        let state = try InferenceState<Float>(batch: 1, heads: heads, keyDim: keyDim, valueDim: valueDim, gate: gate,
                                              memoryStorage: memoryStorage)
        let exact = try InferenceState<Double>(batch: 1, heads: heads, keyDim: keyDim, valueDim: valueDim, gate: gate)
        state.threads = threads
        exact.threads = threads
        var h = Tensor<Float>(shape: [])
        var h64 = Tensor<Double>(shape: [])
        var (worst, largest) = (0.0, 0.0)
        var results: [Checkpoint] = []
        for t in 0..<steps {
            let s = try x.sequenceSlice(t..<(t + 1))
            let q = try s.q.reshaped([1, heads, keyDim]), k = try s.k.reshaped([1, heads, keyDim])
            let v = try s.v.reshaped([1, heads, valueDim])
            let i = try s.i.reshaped([1, heads, 1]), f = try s.f.reshaped([1, heads, 1])
            try state.step(q: q, k: k, v: v, i: i, f: f, into: &h)
            try exact.step(q: q.converted(), k: k.converted(), v: v.converted(), i: i.converted(), f: f.converted(), into: &h64)
            h.withUnsafeBufferPointer { got in
                h64.withUnsafeBufferPointer { want in
                    for index in got.indices {
                        worst = max(worst, abs(Double(got[index]) - want[index]))
                        largest = max(largest, abs(want[index]))
                    }
                }
            }
            if checkpoints.contains(t + 1) {
                let c = state.snapshot().c, c64 = exact.snapshot().c
                var (cWorst, cLargest) = (0.0, 0.0)
                c.withUnsafeBufferPointer { got in
                    c64.withUnsafeBufferPointer { want in
                        for index in got.indices {
                            cWorst = max(cWorst, abs(Double(got[index]) - want[index]))
                            cLargest = max(cLargest, abs(want[index]))
                        }
                    }
                }
                results.append(Checkpoint(tokens: t + 1, h: worst / largest, c: cWorst / cLargest))
            }
        }
        return results
    }
}
