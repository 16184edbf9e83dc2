import TFLA
import TFLATestSupport

/// Latency of one generation step (`InferenceState.step(…, into:)`).
public enum StepBenchmark {
    public struct Measurement: Sendable {
        /// Median and minimum seconds per step.
        public var median: Double
        public var minimum: Double
        /// Bytes of state read and written once per step (C, n, m).
        public var stateBytes: Int
        /// Bytes the library allocated per step (after warm-up).
        public var bytesAllocatedPerStep: Double

        /// Seconds the memory floor allows at `bandwidth` bytes/s: the state
        /// read and written once.
        public func floor(bandwidth: Double) -> Double { 2 * Double(stateBytes) / bandwidth }
    }

    /// Runs `steps` float32 steps (after 10 warm-up steps) on random inputs.
    /// `portableBF16Step` forces the bfloat16 step's portable loop.
    public static func run(batch: Int, heads: Int, keyDim: Int, valueDim: Int, gate: Gate,
                           threads: Int, steps: Int, memoryStorage: MemoryStorage = .native,
                           portableBF16Step: Bool = false) throws -> Measurement {
        let state = try InferenceState<Float>(batch: batch, heads: heads, keyDim: keyDim, valueDim: valueDim, gate: gate,
                                              memoryStorage: memoryStorage)
        state.threads = threads
        state.portableBF16Step = portableBF16Step
        let x = MLSTMInputs<Float>.random(
            ProblemShape(batch: batch, heads: heads, sequence: 1, keyDim: keyDim, valueDim: valueDim), seed: 3)
        let q = try x.q.reshaped([batch, heads, keyDim]), k = try x.k.reshaped([batch, heads, keyDim])
        let v = try x.v.reshaped([batch, heads, valueDim])
        let i = try x.i.reshaped([batch, heads, 1]), f = try x.f.reshaped([batch, heads, 1])
        var h = Tensor<Float>(shape: [batch, heads, valueDim])
        for _ in 0..<10 { try state.step(q: q, k: k, v: v, i: i, f: f, into: &h) }
        let before = AllocationCounter.bytesAllocated
        var times: [Double] = []
        for _ in 0..<steps {
            let start = Stopwatch.now()
            try state.step(q: q, k: k, v: v, i: i, f: f, into: &h)
            times.append(Stopwatch.now() - start)
        }
        let allocated = Double(AllocationCounter.bytesAllocated - before) / Double(steps)
        times.sort()
        let memoryBytes = memoryStorage == .native ? MemoryLayout<Float>.size : 2
        let stateBytes = batch * heads * (keyDim * valueDim * memoryBytes + (keyDim + 1) * MemoryLayout<Float>.size)
        return Measurement(median: times[times.count / 2], minimum: times[0],
                           stateBytes: stateBytes, bytesAllocatedPerStep: allocated)
    }
}
