import Dispatch
import TFLA
import TFLATestSupport

/// Shapes of the many-core measurements: the standard forward shapes, one
/// long single head, and a large batch.
extension BenchmarkShape {
    public static let scaling: [BenchmarkShape] = [
        standard[0],
        BenchmarkShape(name: "one-head-64k", shape: ProblemShape(batch: 1, heads: 1, sequence: 65536, keyDim: 256, valueDim: 512)),
        standard[1],
        BenchmarkShape(name: "batch-8x8", shape: ProblemShape(batch: 8, heads: 8, sequence: 2048, keyDim: 256, valueDim: 512)),
    ]
}

/// What a thread sweep or a simulation times.
public enum ScalingWork: String, CaseIterable, Sendable {
    /// `Chunkwise.forward`, inference mode.
    case forward
    /// Training forward + exact backward.
    case backward
    /// One `InferenceState.step` for B·NH heads of the shape (S ignored).
    case step

    /// One call of the work at `threads` threads, planned for `parallelism`
    /// workers: returns a closure that runs it (inputs are made once).
    func prepare(_ shape: ProblemShape, gate: Gate, threads: Int, parallelism: Int,
                 tiling: TilingOverrides = TilingOverrides()) throws -> () throws -> Void {
        switch self {
        case .forward:
            let inputs = MLSTMInputs<Float>.random(shape, gates: .realistic, seed: 1)
            var options = tiling.applied(to: ChunkwiseOptions())
            options.threads = threads
            options.parallelism = parallelism
            return { _ = try Chunkwise.forward(inputs, gate: gate, options: options) }
        case .backward:
            let inputs = MLSTMInputs<Float>.random(shape, gates: .realistic, seed: 1)
            let dh = MLSTMInputs<Float>.random(shape, seed: 2).v
            var options = tiling.applied(to: ChunkwiseOptions.training)
            options.threads = threads
            options.parallelism = parallelism
            return { _ = try Chunkwise.gradients(inputs, gate: gate, dh: dh, options: options) }
        case .step:
            let state = try InferenceState<Float>(batch: shape.batch, heads: shape.heads, keyDim: shape.keyDim,
                                                  valueDim: shape.valueDim, gate: gate)
            // The step's tiling never changes its bits, so it follows the
            // thread count alone.
            state.threads = threads
            let one = ProblemShape(batch: shape.batch, heads: shape.heads, sequence: 1, keyDim: shape.keyDim, valueDim: shape.valueDim)
            let x = MLSTMInputs<Float>.random(one, seed: 3)
            let (b, nh) = (shape.batch, shape.heads)
            let q = try x.q.reshaped([b, nh, shape.keyDim]), k = try x.k.reshaped([b, nh, shape.keyDim])
            let v = try x.v.reshaped([b, nh, shape.valueDim])
            let i = try x.i.reshaped([b, nh, 1]), f = try x.f.reshaped([b, nh, 1])
            var h = Tensor<Float>(shape: [b, nh, shape.valueDim])
            return { try state.step(q: q, k: k, v: v, i: i, f: f, into: &h) }
        }
    }
}

/// Tiling options a sweep or simulation sets on top of the library's
/// defaults for the work (inference or training).
public struct TilingOverrides: Sendable {
    public var chunkSize: Int?
    public var dhvTile: Int?
    public var segments: Int?

    public init(chunkSize: Int? = nil, dhvTile: Int? = nil, segments: Int? = nil) {
        (self.chunkSize, self.dhvTile, self.segments) = (chunkSize, dhvTile, segments)
    }

    func applied(to defaults: ChunkwiseOptions) -> ChunkwiseOptions {
        var options = defaults
        if let chunkSize { options.chunkSize = chunkSize }
        if let dhvTile { options.valueDimTile = dhvTile }
        if let segments { options.segments = segments }
        return options
    }
}

/// Median and minimum of `repeats` timed calls after one warm-up call.
func timeCalls(repeats: Int, _ body: () throws -> Void) rethrows -> (median: Double, minimum: Double) {
    try body()
    var times: [Double] = []
    for _ in 0..<max(1, repeats) {
        let start = Stopwatch.now()
        try body()
        times.append(Stopwatch.now() - start)
    }
    times.sort()
    return (times[times.count / 2], times[0])
}

/// Speed-up against thread count, each thread count with the decomposition
/// planned for itself (`parallelism` = threads).
public enum ThreadSweep {
    public static let csvHeader = "work,shape,B,NH,S,DQK,DHV,gate,threads,parallelism,median_s,min_s,speedup"

    /// Measures `work` on `shape` at each thread count; speed-ups are over
    /// the first entry (normally 1 thread), by medians. Returns CSV rows.
    public static func run(_ work: ScalingWork, name: String, shape: ProblemShape, gate: Gate,
                           threads: [Int], repeats: Int, tiling: TilingOverrides = TilingOverrides(),
                           report: (String) -> Void) throws -> [String] {
        var rows: [String] = []
        var base: Double?
        for count in threads {
            let call = try work.prepare(shape, gate: gate, threads: count, parallelism: count, tiling: tiling)
            let t = try timeCalls(repeats: repeats, call)
            let speedup = (base ?? t.median) / t.median
            if base == nil { base = t.median }
            report(String(format: "%-8@ %-14@ threads %3d  median %10.3f ms  min %10.3f ms  speed-up %5.2f×",
                          work.rawValue, name, count, t.median * 1e3, t.minimum * 1e3, speedup))
            let s = shape
            rows.append([work.rawValue, name, "\(s.batch)", "\(s.heads)", "\(s.sequence)", "\(s.keyDim)", "\(s.valueDim)",
                         gate.isStabilized ? "exp" : "sig", "\(count)", "\(count)",
                         "\(t.median)", "\(t.minimum)", "\(speedup)"].joined(separator: ","))
        }
        return rows
    }
}

/// Predicts the speed-up on P workers from one thread: every work item of
/// every parallel region is timed on one thread (with the decomposition
/// planned for P), then replayed on P simulated workers that take items in
/// order from a shared counter (greedy list scheduling), with a barrier at
/// the end of each region; time outside the regions stays serial.
///
/// With `calibrate`, the prediction is also scaled by the machine's load
/// factor at P: how much slower the one-thread call runs when min(P, cores)
/// copies of it run at once (each on its own inputs). It captures what list
/// scheduling cannot — cores that share caches, memory and, on a VM,
/// physical cores slow down when all are busy (`Docs/log/many-cores.md`,
/// "Run 8": 1.38× at 16 on the 16-core host).
public enum ScalingSimulator {

    public static let csvHeader = "work,shape,B,NH,S,DQK,DHV,gate,workers,regions,items,work_s,serial_s,predicted_s,baseline_s,predicted_speedup,load_factor,calibrated_s,calibrated_speedup"

    /// The median time of one call of `prepare()`'s work when `copies`
    /// copies run at once, each on its own thread and inputs, against
    /// `alone`: the load factor.
    public static func loadFactor(copies: Int, repeats: Int, alone: Double,
                                  prepare: () throws -> () throws -> Void) throws -> Double {
        guard copies > 1 else { return 1 }
        // Each copy builds its own inputs, in parallel: generating them one
        // copy after another took longer than the measurement itself at the
        // large shapes.
        let prepared = UnsafeSendableBox(UnsafeMutableBufferPointer<Result<() throws -> Void, any Error>?>.allocate(capacity: copies))
        defer { prepared.value.deallocate() }
        prepared.value.initialize(repeating: nil)
        withoutActuallyEscaping(prepare) { prepare in
            let preparer = UnsafeSendableBox(prepare)
            DispatchQueue.concurrentPerform(iterations: copies) { copy in
                prepared.value[copy] = Result { try preparer.value() }
            }
        }
        // A copy that could not be set up reports its own error.
        let calls = try prepared.value.map { UnsafeSendableBox(try $0!.get()) }
        for call in calls { try call.value() }
        let times = UnsafeSendableBox(UnsafeMutableBufferPointer<Double>.allocate(capacity: copies * max(1, repeats)))
        defer { times.value.deallocate() }
        times.value.initialize(repeating: .nan)
        DispatchQueue.concurrentPerform(iterations: copies) { copy in
            for run in 0..<max(1, repeats) {
                let start = Stopwatch.now()
                try? calls[copy].value()
                times.value[copy * max(1, repeats) + run] = Stopwatch.now() - start
            }
        }
        let sorted = times.value.filter { !$0.isNaN }.sorted()
        return sorted[sorted.count / 2] / alone
    }

    /// The makespan of the recorded regions on `workers` workers.
    public static func makespan(_ regions: [[Double]], workers: Int) -> Double {
        regions.reduce(0.0) { total, durations in
            var free = [Double](repeating: 0, count: max(1, min(workers, durations.count)))
            for duration in durations {
                var earliest = 0
                for index in free.indices where free[index] < free[earliest] { earliest = index }
                free[earliest] += duration
            }
            return total + (free.max() ?? 0)
        }
    }

    /// Predictions at each worker count, against the one-thread time
    /// planned for one worker. Returns CSV rows.
    public static func run(_ work: ScalingWork, name: String, shape: ProblemShape, gate: Gate,
                           workers: [Int], repeats: Int, tiling: TilingOverrides = TilingOverrides(),
                           calibrate: Bool = false, report: (String) -> Void) throws -> [String] {
        let baseline = try timeCalls(repeats: repeats, try work.prepare(shape, gate: gate, threads: 1, parallelism: 1)).median
        var rows: [String] = []
        for count in workers {
            let call = try work.prepare(shape, gate: gate, threads: 1, parallelism: count, tiling: tiling)
            try call()
            // The median of `repeats` traced runs, by total item time.
            var traces: [(wall: Double, regions: [[Double]])] = []
            for _ in 0..<max(1, repeats) {
                let start = Stopwatch.now()
                let regions = try WorkTrace.shared.recording { try call() }
                traces.append((Stopwatch.now() - start, regions))
            }
            traces.sort { $0.wall < $1.wall }
            let trace = traces[traces.count / 2]
            let busy = trace.regions.reduce(0) { $0 + $1.reduce(0, +) }
            let serial = max(0, trace.wall - busy)
            let predicted = makespan(trace.regions, workers: count) + serial
            let load = calibrate
                ? try loadFactor(copies: min(count, Workers.defaultCount), repeats: repeats, alone: baseline) {
                    try work.prepare(shape, gate: gate, threads: 1, parallelism: 1)
                }
                : 1
            let items = trace.regions.map { "\($0.count)" }.joined(separator: "+")
            let regionWork = trace.regions.map { String(format: "%.1f", $0.reduce(0, +) * 1e3) }.joined(separator: "+")
            report(String(format: "%-8@ %-14@ P=%-3d items %@  work %@ = %.1f ms (%.2f× one thread's)  serial %.3f ms  predicted %.3f ms  speed-up %5.2f×",
                          work.rawValue, name, count, items, regionWork, busy * 1e3, busy / baseline, serial * 1e3, predicted * 1e3,
                          baseline / predicted))
            if calibrate {
                report(String(format: "%-8@ %-14@ P=%-3d load factor %.2f (%d copies at once)  calibrated %.3f ms  speed-up %5.2f×",
                              work.rawValue, name, count, load, min(count, Workers.defaultCount), predicted * load * 1e3,
                              baseline / (predicted * load)))
            }
            let s = shape
            rows.append([work.rawValue, name, "\(s.batch)", "\(s.heads)", "\(s.sequence)", "\(s.keyDim)", "\(s.valueDim)",
                         gate.isStabilized ? "exp" : "sig", "\(count)", "\(trace.regions.count)", items,
                         "\(busy)", "\(serial)", "\(predicted)", "\(baseline)", "\(baseline / predicted)",
                         "\(load)", "\(predicted * load)", "\(baseline / (predicted * load))"].joined(separator: ","))
        }
        return rows
    }
}

/// The fixed costs of many-core work: a parallel region's fork/join, and
/// the streaming bandwidth that bounds a step over a large state.
public enum ParallelProbe {
    /// Median seconds of one parallel region of `items` empty items.
    public static func forkJoin(threads: Int, items: Int, repeats: Int = 2000) -> Double {
        timeCalls(repeats: repeats) {
            parallelFor(items: items, threads: threads, makeScratch: { () }) { _, _ in }
        }.median
    }

    /// Median seconds to copy `bytes` between two buffers with `threads`
    /// workers (the same traffic as a step that reads and writes a state of
    /// that size once).
    public static func copy(bytes: Int, threads: Int, repeats: Int = 20) -> Double {
        let count = bytes / MemoryLayout<Float>.size
        let source = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        let target = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { source.deallocate(); target.deallocate() }
        source.initialize(repeating: 1)
        target.initialize(repeating: 0)
        let pieces = max(1, threads * 4)
        let pointers = UnsafeSendableBox((source.baseAddress!, target.baseAddress!))
        return timeCalls(repeats: repeats) {
            parallelFor(items: pieces, threads: threads, makeScratch: { () }) { piece, _ in
                let (from, to) = pointers.value
                let start = piece * count / pieces, end = (piece + 1) * count / pieces
                (to + start).update(from: from + start, count: end - start)
            }
        }.median
    }
}

extension ParallelProbe {
    /// Aggregate GFLOP/s of `threads` workers each running one GEMM case
    /// for about 0.3 s at the same time: whether GEMM calls scale.
    public static func concurrentGEMM(_ c: GEMMProbe.Case, threads: Int) -> Double {
        let rates = UnsafeSendableBox(UnsafeMutableBufferPointer<Double>.allocate(capacity: threads))
        defer { rates.value.deallocate() }
        parallelFor(items: threads, threads: threads, makeScratch: { () }) { item, _ in
            rates.value[item] = GEMMProbe.rate(c)
        }
        return rates.value.reduce(0, +)
    }

    /// Seconds to write `bytes` of a fresh output tensor with `threads`
    /// workers (first touch: page faults included), and to write them again.
    public static func firstTouch(bytes: Int, threads: Int) -> (fresh: Double, again: Double) {
        var tensor = Tensor<Float>(uninitializedShape: [bytes / MemoryLayout<Float>.size])
        let count = tensor.count
        let pieces = max(1, threads * 4)
        return tensor.withWritePointer { address in
            let pointer = UnsafeSendableBox(address)
            func write() -> Double {
                let start = Stopwatch.now()
                parallelFor(items: pieces, threads: threads, makeScratch: { () }) { piece, _ in
                    let begin = piece * count / pieces, end = (piece + 1) * count / pieces
                    (pointer.value + begin).update(repeating: 1, count: end - begin)
                }
                return Stopwatch.now() - start
            }
            let fresh = write()
            let again = write()
            return (fresh, again)
        }
    }
}
