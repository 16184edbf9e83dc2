import TFLA
import TFLATestSupport

/// One measured forward + backward configuration.
public struct BackwardMeasurement: Sendable {
    public var shape: ProblemShape
    public var gate: Gate
    public var mode: GradientMode
    public var options: ChunkwiseOptions
    /// Every `stateStride`-th chunk state kept by the training forward.
    public var stateStride: Int
    /// Median wall times (s) of the training forward, of the backward, and
    /// of both together (medians over the same repetitions).
    public var forwardMedian: Double
    public var backwardMedian: Double
    public var totalMedian: Double
    public var totalMinimum: Double
    /// Bytes the library allocated during one forward + backward: outputs,
    /// saved states, gradients and scratch. Nothing is freed before the
    /// backward returns except per-call scratch, so this bounds the peak.
    public var bytesAllocated: Int
    /// Peak resident memory of the process over the timed calls (inputs,
    /// outputs, saved states, gradients, scratch and the runtime), or 0
    /// where it cannot be read.
    public var peakResidentBytes: Int
}

public enum BackwardBenchmark {
    /// Times `Chunkwise.trainingForward` followed by
    /// `Chunkwise.backward`, float32, one warm-up then `repeats`.
    public static func run(
        _ shape: ProblemShape, gate: Gate, mode: GradientMode, options: ChunkwiseOptions, stateStride: Int = 4,
        repeats: Int, seed: UInt64 = 1
    ) throws -> BackwardMeasurement {
        let inputs = MLSTMInputs<Float>.random(shape, gates: .realistic, seed: seed)
        let dh = MLSTMInputs<Float>.random(shape, seed: seed + 1).v
        func once() throws -> (Double, Double) {
            let start = Stopwatch.now()
            let output = try Chunkwise.trainingForward(inputs, gate: gate, stateStride: stateStride, options: options)
            let middle = Stopwatch.now()
            _ = try Chunkwise.backward(inputs, gate: gate, forward: output, dh: dh, mode: mode, options: options)
            return (middle - start, Stopwatch.now() - middle)
        }
        _ = try once()
        PeakMemory.reset()
        var forward: [Double] = [], backward: [Double] = [], total: [Double] = []
        var allocated = 0
        for _ in 0..<max(1, repeats) {
            let before = AllocationCounter.bytesAllocated
            let (f, b) = try once()
            allocated = AllocationCounter.bytesAllocated - before
            forward.append(f)
            backward.append(b)
            total.append(f + b)
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        return BackwardMeasurement(
            shape: shape, gate: gate, mode: mode, options: options, stateStride: stateStride,
            forwardMedian: median(forward), backwardMedian: median(backward),
            totalMedian: median(total), totalMinimum: total.min()!, bytesAllocated: allocated,
            peakResidentBytes: PeakMemory.peakBytes() ?? 0)
    }

    public static let tableHeader =
        "shape           S      gate mode      chunk stride  fwd(ms)  bwd(ms) total(ms)  min(ms)  alloc(MB)  peakRSS(MB)"
    public static let csvHeader =
        "shape,B,NH,S,DQK,DHV,gate,gradient_mode,chunk,query_tile,kv_tile,state_stride,threads,forward_median_s,backward_median_s,total_median_s,total_min_s,bytes_allocated,peak_rss_bytes"

    /// A table line and a CSV row for a measurement.
    public static func format(name: String, _ m: BackwardMeasurement, threads: Int) -> (line: String, csv: String) {
        let (s, o) = (m.shape, m.options)
        let gateName = m.gate.isStabilized ? "exp" : "sig"
        let line = String(format: "%@ %-6d %@ %@ %5d %6d %8.1f %8.1f %9.1f %8.1f %10.1f %12.1f",
                          name.padding(toLength: 15, withPad: " ", startingAt: 0), s.sequence,
                          gateName.padding(toLength: 4, withPad: " ", startingAt: 0),
                          m.mode.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0), o.chunkSize, m.stateStride,
                          m.forwardMedian * 1e3, m.backwardMedian * 1e3, m.totalMedian * 1e3, m.totalMinimum * 1e3,
                          Double(m.bytesAllocated) / 1e6, Double(m.peakResidentBytes) / 1e6)
        let csv = [name, "\(s.batch)", "\(s.heads)", "\(s.sequence)", "\(s.keyDim)", "\(s.valueDim)", gateName,
                   m.mode.rawValue, "\(o.chunkSize)", "\(o.queryTile)", "\(o.keyTile)", "\(m.stateStride)", "\(threads)",
                   "\(m.forwardMedian)", "\(m.backwardMedian)", "\(m.totalMedian)", "\(m.totalMinimum)",
                   "\(m.bytesAllocated)", "\(m.peakResidentBytes)"].joined(separator: ",")
        return (line, csv)
    }
}

/// One configuration of the forward + backward benchmark.
public struct BackwardConfiguration: Sendable {
    public var name: String
    public var shape: ProblemShape
    public var gate: Gate
    public var mode: GradientMode
    public var options: ChunkwiseOptions
    /// Every `stateStride`-th chunk state kept by the training forward.
    public var stateStride: Int

    public init(name: String, shape: ProblemShape, gate: Gate, mode: GradientMode, options: ChunkwiseOptions,
                stateStride: Int = 4) {
        self.name = name
        self.shape = shape
        self.gate = gate
        self.mode = mode
        self.options = options
        self.stateStride = stateStride
    }
}

/// Runs forward + backward configurations; printed by `tfla-bench`.
public enum BackwardSuite {
    /// Measures every configuration; calls `progress(done, total, label)`
    /// before each and `report(tableLine)` after each. Returns CSV rows.
    public static func run(
        _ configurations: [BackwardConfiguration], repeats: Int,
        progress: (Int, Int, String) -> Void = { _, _, _ in }, report: (String) -> Void
    ) throws -> [String] {
        var rows: [String] = []
        for (index, c) in configurations.enumerated() {
            progress(index, configurations.count, "\(c.name) \(c.gate.isStabilized ? "exp" : "sig") \(c.mode.rawValue) L=\(c.options.chunkSize)")
            let m = try BackwardBenchmark.run(c.shape, gate: c.gate, mode: c.mode, options: c.options,
                                              stateStride: c.stateStride, repeats: repeats)
            let (line, row) = BackwardBenchmark.format(name: c.name, m, threads: c.options.threads ?? Workers.defaultCount)
            report(line)
            rows.append(row)
        }
        progress(configurations.count, configurations.count, "done")
        return rows
    }
}
