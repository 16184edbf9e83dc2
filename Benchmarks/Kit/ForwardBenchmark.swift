import TFLA
import TFLATestSupport

/// A named benchmark problem.
public struct BenchmarkShape: Sendable {
    public var name: String
    public var shape: ProblemShape

    public init(name: String, shape: ProblemShape) {
        self.name = name
        self.shape = shape
    }

    /// The forward benchmark's shapes.
    public static let standard: [BenchmarkShape] = [
        BenchmarkShape(name: "xlstm-7b-head", shape: ProblemShape(batch: 1, heads: 8, sequence: 8192, keyDim: 256, valueDim: 512)),
        BenchmarkShape(name: "paper-head", shape: ProblemShape(batch: 1, heads: 16, sequence: 16384, keyDim: 128, valueDim: 256)),
        BenchmarkShape(name: "batched", shape: ProblemShape(batch: 8, heads: 4, sequence: 2048, keyDim: 128, valueDim: 128)),
    ]
}

/// One measured configuration.
public struct ForwardMeasurement: Sendable {
    public var shape: ProblemShape
    public var gate: Gate
    public var chunkSize: Int
    public var threads: Int
    /// Median, minimum and maximum wall time of the kernel call (s).
    public var median: Double
    public var minimum: Double
    public var maximum: Double
    /// Floor work 4·S·DQK·DHV per head (Sources/TFLA/Documentation.docc/Math.md §5), in flops.
    public var floorFlops: Double
    /// Floor work plus the intra-chunk products S·L·(DQK+DHV) per head.
    public var chunkwiseFlops: Double
    /// Bytes the library allocated during one call (outputs and scratch).
    public var bytesAllocated: Int

    /// Effective GFLOP/s: chunkwise work over the median time.
    public var effectiveGFLOPs: Double { chunkwiseFlops / median / 1e9 }

    /// Floor efficiency against an sgemm peak in GFLOP/s.
    public func floorEfficiency(peak: Double) -> Double {
        floorFlops / (peak * 1e9) / median
    }
}

/// Where a benchmarked forward's q, k, v (and h) live.
public enum ForwardStorage: String, Sendable, CaseIterable {
    /// float32 tensors in and out.
    case float32
    /// bfloat16 q, k, v, i, f (`forward(storedAs:)`), h in bfloat16.
    case bfloat16
    /// bfloat16 inputs, h in float32 (`forward(storedAs:…:into:)` only).
    case bfloat16In
}

public enum ForwardBenchmark {
    /// Times `Chunkwise.forward` (or, with a `stateStride`,
    /// `Chunkwise.trainingForward`) in float32 (one warm-up, then `repeats`);
    /// with `reusesOutput`, the inference forward into one h kept across calls.
    public static func run(
        _ shape: ProblemShape, gate: Gate, options: ChunkwiseOptions, stateStride: Int? = nil, repeats: Int, seed: UInt64 = 1,
        reusesOutput: Bool = false, storage: ForwardStorage = .float32
    ) throws -> ForwardMeasurement {
        let inputs = MLSTMInputs<Float>.random(shape, gates: .realistic, seed: seed)
        var h = Tensor<Float>(shape: reusesOutput || storage == .bfloat16In ? shape.valueShape : [0])
        let stored = storage == .float32 ? nil
            : MLSTMInputs<BFloat16>(q: inputs.q.converted(), k: inputs.k.converted(), v: inputs.v.converted(),
                                    i: inputs.i.converted(), f: inputs.f.converted())
        var storedH = Tensor<BFloat16>(shape: reusesOutput && storage == .bfloat16 ? shape.valueShape : [0])
        func call() throws {
            if let stored {
                precondition(stateStride == nil, "bfloat16 storage is for the inference forward")
                switch (storage, reusesOutput) {
                case (.bfloat16In, _): _ = try Chunkwise.forward(storedAs: stored, gate: gate, options: options, into: &h)
                case (_, true): _ = try Chunkwise.forward(storedAs: stored, gate: gate, options: options, into: &storedH)
                default: _ = try Chunkwise.forward(storedAs: stored, gate: gate, options: options)
                }
            } else if let stateStride {
                _ = try Chunkwise.trainingForward(inputs, gate: gate, stateStride: stateStride, options: options)
            } else if reusesOutput {
                _ = try Chunkwise.forward(inputs, gate: gate, options: options, into: &h)
            } else {
                _ = try Chunkwise.forward(inputs, gate: gate, options: options)
            }
        }
        try call()
        var times: [Double] = []
        var allocated = 0
        for _ in 0..<max(1, repeats) {
            let before = AllocationCounter.bytesAllocated
            let start = Stopwatch.now()
            try call()
            times.append(Stopwatch.now() - start)
            allocated = AllocationCounter.bytesAllocated - before
        }
        times.sort()
        let heads = Double(shape.batchHeads)
        let (s, dqk, dhv) = (Double(shape.sequence), Double(shape.keyDim), Double(shape.valueDim))
        let chunk = Double(min(options.chunkSize, shape.sequence))
        let floor = 4 * s * dqk * dhv * heads
        return ForwardMeasurement(
            shape: shape, gate: gate, chunkSize: options.chunkSize, threads: options.threads ?? Workers.defaultCount,
            median: times[times.count / 2], minimum: times[0], maximum: times[times.count - 1],
            floorFlops: floor, chunkwiseFlops: floor + s * chunk * (dqk + dhv) * heads,
            bytesAllocated: allocated)
    }
}
