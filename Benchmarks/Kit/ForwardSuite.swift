import Foundation
import TFLA

/// One configuration of the forward benchmark.
public struct ForwardConfiguration: Sendable {
    public var name: String
    public var shape: ProblemShape
    public var gate: Gate
    public var options: ChunkwiseOptions
    /// nil: the inference forward; else the training forward keeping every
    /// `stateStride`-th chunk state.
    public var stateStride: Int?

    /// Whether every timed call writes h into one tensor kept across calls
    /// (`Chunkwise.forward(_:gate:initialState:eps:options:into:)`)
    /// instead of fresh memory (inference forward only).
    public var reusesOutput: Bool
    /// Where q, k, v and h live (inference forward only).
    public var storage: ForwardStorage

    public init(name: String, shape: ProblemShape, gate: Gate, options: ChunkwiseOptions, stateStride: Int? = nil,
                reusesOutput: Bool = false, storage: ForwardStorage = .float32) {
        self.storage = storage
        self.name = name
        self.shape = shape
        self.gate = gate
        self.options = options
        self.stateStride = stateStride
        self.reusesOutput = reusesOutput
    }

    var gateName: String { gate.isStabilized ? "exp" : "sig" }
    var modeName: String { stateStride == nil ? "inference" : "training" }
}

/// The packed walk's time per part for one configuration: ms per call
/// summed over workers, and the workers' busy time against the wall time.
func profileLine(_ totals: PackedWalkProfile.Totals, calls: Int, wall: Double) -> String {
    guard !totals.workers.isEmpty else { return "  profile: no packed chunk walk ran" }
    let total = totals.seconds.reduce(0, +)
    let parts = PackedWalkProfile.Part.allCases.map { part in
        String(format: "%@ %.1f (%.0f%%)", "\(part)", totals.seconds[part.rawValue] * 1e3 / Double(calls),
               100 * totals.seconds[part.rawValue] / total)
    }
    let perCall = Double(totals.workers.count) / Double(calls)
    return String(format: "  profile, ms per call summed over workers: %@; total %.1f; %.1f worker scratches per call, busy mean %.1f ms, max %.1f ms; wall %.1f ms",
                  parts.joined(separator: ", "), total * 1e3 / Double(calls), perCall,
                  total * 1e3 / Double(totals.workers.count), (totals.workers.max() ?? 0) * 1e3, wall * 1e3)
}

/// Runs a list of forward configurations and formats the results as a
/// table and as CSV; printed by `tfla-bench`.
public enum ForwardSuite {
    public static let tableHeader =
        "shape                        S      gate chunk  qt  kvt   median(ms)  min(ms)  GFLOP/s  floor-eff  alloc(MB)"
    public static let csvHeader =
        "shape,B,NH,S,DQK,DHV,gate,mode,chunk,query_tile,kv_tile,threads,median_s,min_s,max_s,effective_gflops,floor_efficiency,sgemm_peak_gflops,bytes_allocated"

    /// Measures every configuration; calls `progress(done, total, label)`
    /// before each and `report(tableLine)` after each. Returns CSV rows.
    public static func run(
        _ configurations: [ForwardConfiguration], repeats: Int, peak: Double, profile: Bool = false,
        progress: (Int, Int, String) -> Void = { _, _, _ in }, report: (String) -> Void
    ) throws -> [String] {
        var rows: [String] = []
        PackedWalkProfile.isEnabled = profile
        defer { PackedWalkProfile.isEnabled = false }
        for (index, c) in configurations.enumerated() {
            progress(index, configurations.count, "\(c.name) \(c.gateName) L=\(c.options.chunkSize)")
            _ = PackedWalkProfile.take()
            let m = try ForwardBenchmark.run(c.shape, gate: c.gate, options: c.options, stateStride: c.stateStride,
                                             repeats: repeats, reusesOutput: c.reusesOutput, storage: c.storage)
            let (s, o) = (c.shape, c.options)
            report(String(format: "%@ %-6d %@ %5d %4d %4d %10.1f %8.1f %8.1f %10.3f %9.1f",
                          c.name.padding(toLength: 28, withPad: " ", startingAt: 0), s.sequence,
                          c.gateName.padding(toLength: 4, withPad: " ", startingAt: 0), o.chunkSize, o.queryTile, o.keyTile,
                          m.median * 1e3, m.minimum * 1e3, m.effectiveGFLOPs, m.floorEfficiency(peak: peak),
                          Double(m.bytesAllocated) / 1e6))
            if profile { report(profileLine(PackedWalkProfile.take(), calls: max(1, repeats) + 1, wall: m.median)) }
            rows.append([c.name, "\(s.batch)", "\(s.heads)", "\(s.sequence)", "\(s.keyDim)", "\(s.valueDim)",
                         c.gateName, c.modeName, "\(o.chunkSize)", "\(o.queryTile)", "\(o.keyTile)", "\(m.threads)",
                         "\(m.median)", "\(m.minimum)", "\(m.maximum)", "\(m.effectiveGFLOPs)",
                         "\(m.floorEfficiency(peak: peak))", "\(peak)", "\(m.bytesAllocated)"].joined(separator: ","))
        }
        progress(configurations.count, configurations.count, "done")
        return rows
    }
}
