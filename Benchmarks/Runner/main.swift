import ArgumentParser
import Foundation
import TFLA
import TFLABenchmarkKit

/// The forward benchmark: median time, effective GFLOP/s, floor efficiency
/// against an sgemm peak measured in the same run, and bytes allocated.
struct BenchRunner: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tfla-bench",
        abstract: "Benchmark the chunkwise forward kernel (float32) at the standard shapes.")

    @Option(help: "Worker threads.") var threads = Workers.defaultCount
    @Option(help: "The worker count the decomposition is planned for (default: the cores of this machine).")
    var parallelism: Int?
    @Option(help: "Thread counts, comma-separated (e.g. 1,2,4,8,16): speed-up of each work (--work) per shape (--shapes, default the scaling shapes), each planned for its own thread count.")
    var threadsSweep: String?
    @Option(help: "Worker counts, comma-separated (e.g. 2,4,8,16,32,64): predict each work's speed-up from item times measured on one thread.")
    var simulate: String?
    @Option(help: "With --threads-sweep or --simulate: forward, backward, step, comma-separated.") var work = "forward,backward,step"
    @Option(help: "With --threads-sweep, --simulate or the forward: columns of C per work item (default: planned).") var dhvTile: Int?
    @Option(help: "With --threads-sweep, --simulate or the forward: sequence segments (default: planned).") var segments: Int?
    @Flag(help: "With --simulate: also scale each prediction by the load factor measured here (min(P, cores) concurrent one-thread copies of the work against one alone).")
    var calibrate = false
    @Option(help: "With --step: batch entries (heads 8, DQK 256, DHV 512).") var stepBatch = 1
    @Flag(help: "Keep freed memory in the process (glibc: no mmap, no trim), so that outputs reuse pages already faulted in.")
    var reuseFreedMemory = false
    @Flag(help: "Print the fork/join cost of a parallel region and the copy bandwidth at --threads, and exit.")
    var parallelProbe = false
    @Option(help: "Timed repetitions per configuration.") var repeats = 5
    @Option(help: "Gates to run: exp, sig or both.") var gate = "both"
    @Option(help: "Chunk sizes, comma-separated (default: the library's, 64 for the forward, 128 for forward + backward).")
    var chunkSizes: String?
    @Option(help: "Query tile sizes, comma-separated (default: the library default).") var queryTiles: String?
    @Option(help: "Key/value tile sizes, comma-separated (default: the library default).") var kvTiles: String?
    @Option(help: ArgumentHelp("Shapes, comma-separated, or 'all': \(BenchmarkShape.standard.map(\.name).joined(separator: ", ")); with --threads-sweep or --simulate also the scaling shapes \(BenchmarkShape.scaling.map(\.name).joined(separator: ", ")) (their default)."))
    var shapes = "all"
    @Option(help: "Override S for every shape (e.g. for the linear-scaling check).") var sequence: Int?
    @Option(help: "Kernel mode: inference or training (saves every chunk state).") var mode = "inference"
    @Option(help: "Write results as CSV to this file.") var csv: String?
    @Flag(help: "Print single-thread GEMM rates at the kernel's product shapes (with --backward: the backward's) and exit.")
    var gemmProbe = false
    @Flag(help: "Benchmark the generation step (B=1, NH=8, DQK=256, DHV=512) instead and exit.") var step = false
    @Option(help: "With --step: how C is stored (native, float16, bfloat16, bfloat16-portable: the bf16 step's portable loop).") var memoryStorage = "native"
    @Option(help: "With --step: instead of timing, generate this many tokens at the 7B head (B=1) and print the error of h and C against a float64 state at each of these counts, comma-separated (e.g. 1024,8192), for realistic and extreme gates.")
    var stepAccuracy: String?
    @Option(help: "With --step-accuracy: add this to every forget pre-activation (5: f ≈ 0.9997, a long memory).")
    var forgetShift: Float = 0
    @Flag(help: "Benchmark forward (training mode) + backward instead.") var backward = false
    @Option(help: "With --backward: gradient modes, comma-separated (exact, reference).") var gradientModes = "exact"
    @Option(help: "With --backward: state strides, comma-separated (default: the library's, 4).") var stateStrides: String?
    @Option(help: "Forward products: float32, bf16 (bfloat16 operands, float32 accumulation) or both (each configuration in both, one after the other). With --gemm-probe: the products' rates in that precision next to sgemm's.")
    var precision = "float32"
    @Option(help: "Forward storage, comma-separated: float32 (float32 tensors), bf16 (bfloat16 q, k, v, i, f and h, forward(storedAs:)), bf16-in (bfloat16 inputs, float32 h kept across calls). With --precision float32, bf16 storage is widened to float32 copies (the path where AMX is missing).")
    var storage = "float32"
    @Flag(help: "With bf16 products on AMX: Q·C reads C as one bfloat16 term (the default reads two, bf16(C) and bf16(C − bf16(C))), to measure what the second costs.")
    var bf16OneTerm = false
    @Flag(help: "With bf16 storage or bf16 products on AMX: print where the packed chunk walk's time goes (per part, summed over workers) after each configuration.")
    var profile = false
    @Option(help: "Forward outputs: fresh (a new h per call, as Chunkwise.forward returns it), reused (every call writes into one h, forward(_:…:into:)) or both.")
    var outputs = "fresh"
    @Option(help: "With bf16 products: where they come from, comma-separated: automatic (the fastest this CPU has), matrix-units (AMX), matrix-units-per-product (AMX, operands packed by each product), dot-product (AVX512-BF16), rounded (float32 sgemm on rounded operands), or available (each this CPU has). With --gemm-probe: 'available' by default.")
    var bf16Paths: String?

    /// The bf16 paths --bf16-paths names (unavailable ones are refused).
    func selectedPaths(default fallback: String) throws -> [BF16Products.Path] {
        let names = (bf16Paths ?? fallback).split(separator: ",").map(String.init)
        return try names.flatMap { name -> [BF16Products.Path] in
            let path: BF16Products.Path
            switch name {
            case "available": return BF16Products.availablePaths
            case "automatic": path = .automatic
            case "matrix-units": path = .matrixUnits
            case "matrix-units-per-product": path = .matrixUnitsPerProduct
            case "dot-product": path = .dotProduct
            case "rounded": path = .roundedFloat32
            default: throw ValidationError("unknown bf16 path '\(name)' (automatic, matrix-units, matrix-units-per-product, dot-product, rounded, available)")
            }
            guard path == .automatic || BF16Products.availablePaths.contains(path) else {
                throw ValidationError("bf16 path '\(name)' is not available on this CPU (available: \(BF16Products.availablePaths))")
            }
            return [path]
        }
    }

    static func label(_ path: BF16Products.Path) -> String {
        switch path {
        case .automatic: "bf16"
        case .matrixUnits: "bf16-amx"
        case .matrixUnitsPerProduct: "bf16-amx-per-product"
        case .dotProduct: "bf16-avx512"
        case .roundedFloat32: "bf16-rounded"
        }
    }

    func run() throws {
        if reuseFreedMemory {
            _ = glibcMallopt(-4, 0)  // M_MMAP_MAX: no mmap'ed blocks
            _ = glibcMallopt(-1, Int32.max)  // M_TRIM_THRESHOLD: never return the heap's top
        }
        let gates: [Gate] = gate == "both" ? [.exponential, .sigmoid(normalize: true)]
            : gate == "sig" ? [.sigmoid(normalize: true)] : [.exponential]
        try validateShapeNames()
        let selected = BenchmarkShape.standard.filter { shapes == "all" || shapes.split(separator: ",").contains(Substring($0.name)) }
        let list = { (text: String?) -> [Int?] in text.map { $0.split(separator: ",").compactMap { Int($0) } } ?? [nil] }
        print("tfla-bench: \(BLAS.configuration), build \(BuildInfo.compiledISA), \(threads) thread(s), decomposition planned for \(parallelism ?? Workers.defaultCount) worker(s)\(reuseFreedMemory ? ", freed memory kept" : "")")
        if let warning = BuildInfo.underTargetedBuildWarning { print(warning) }
        if let warning = BLAS.configuration.forcedWeakCoreWarning { print(warning) }
        if parallelProbe {
            for items in [threads, 4 * threads] {
                print(String(format: "fork/join, %d thread(s), %d empty items: %.1f µs", threads, items,
                             ParallelProbe.forkJoin(threads: threads, items: items) * 1e6))
            }
            for megabytes in [4, 67] {
                let seconds = ParallelProbe.copy(bytes: megabytes << 20, threads: threads)
                print(String(format: "copy %d MiB, %d thread(s): %.1f µs, %.1f GB/s (read + write)", megabytes, threads,
                             seconds * 1e6, 2 * Double(megabytes << 20) / seconds / 1e9))
            }
            let touch = ParallelProbe.firstTouch(bytes: 128 << 20, threads: threads)
            print(String(format: "write a fresh 128 MiB output, %d thread(s): %.1f ms (again: %.1f ms)", threads,
                         touch.fresh * 1e3, touch.again * 1e3))
            for (label, m, n, k, transposeA) in [("inter Q·C, 64 columns", 64, 64, 256, false), ("inter Q·C, 512 columns", 64, 512, 256, false),
                                                 ("state Kwᵀ·V, 64 columns", 256, 64, 64, true), ("scores Q·Kᵀ", 64, 64, 256, false)] {
                let c = GEMMProbe.Case(label: label, transposeA: transposeA, transposeB: label.hasPrefix("scores"), m: m, n: n, k: k, beta: 0)
                let total = ParallelProbe.concurrentGEMM(c, threads: threads)
                print(String(format: "gemm %@ (m=%d n=%d k=%d) on %d thread(s) at once: %.1f GFLOP/s in all, %.1f per thread",
                             label, m, n, k, threads, total, total / Double(threads)))
            }
            return
        }
        if threadsSweep != nil || simulate != nil {
            let scalingShapes = shapes == "all" ? BenchmarkShape.scaling
                : (BenchmarkShape.standard + BenchmarkShape.scaling).filter { shapes.split(separator: ",").contains(Substring($0.name)) }
            var unique: [BenchmarkShape] = []
            for entry in scalingShapes where !unique.contains(where: { $0.name == entry.name }) { unique.append(entry) }
            let counts = { (text: String) in text.split(separator: ",").compactMap { Int($0) } }
            let works = try work.split(separator: ",").map { name in
                guard let w = ScalingWork(rawValue: String(name)) else { throw ValidationError("unknown work '\(name)'") }
                return w
            }
            var rows = [threadsSweep != nil ? ThreadSweep.csvHeader : ScalingSimulator.csvHeader]
            let tiling = TilingOverrides(chunkSize: list(chunkSizes).first ?? nil, dhvTile: dhvTile, segments: segments)
            for w in works {
                for entry in unique {
                    var shape = entry.shape
                    if let sequence { shape.sequence = sequence }
                    if w == .step { shape.batch *= stepBatch }
                    for g in gates {
                        if let threadsSweep {
                            rows += try ThreadSweep.run(w, name: entry.name, shape: shape, gate: g, threads: counts(threadsSweep),
                                                        repeats: w == .step ? repeats * 100 : repeats, tiling: tiling) { print($0) }
                        } else if let simulate {
                            rows += try ScalingSimulator.run(w, name: entry.name, shape: shape, gate: g, workers: counts(simulate),
                                                             repeats: w == .step ? repeats * 20 : repeats, tiling: tiling,
                                                             calibrate: calibrate) { print($0) }
                        }
                    }
                    if w == .step { break }  // the step depends on B·NH, DQK, DHV only: one shape is enough
                }
            }
            if let csv {
                try (rows.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
                print("wrote \(csv)")
            }
            return
        }
        if gemmProbe {
            let paths = precision == "float32" ? [] : try selectedPaths(default: "available")
            for chunk in list(chunkSizes).map({ $0 ?? ChunkwiseOptions.default.chunkSize }) {
                let cases = backward ? GEMMProbe.backwardCases(chunk: chunk, keyDim: 256, valueDim: 512, tile: 64)
                    : GEMMProbe.forwardCases(chunk: chunk, keyDim: 256, valueDim: 512, tile: 64)
                for c in cases {
                    if precision == "float32" {
                        print(String(format: "L=%-4d %@ m=%-4d n=%-4d k=%-4d %6.1f GFLOP/s", chunk, c.label, c.m, c.n, c.k, GEMMProbe.rate(c)))
                        continue
                    }
                    // Alternating, so that all see the same machine state.
                    let sgemm = GEMMProbe.rate(c)
                    var line = String(format: "L=%-4d %@ m=%-4d n=%-4d k=%-4d sgemm %6.1f", chunk, c.label, c.m, c.n, c.k, sgemm)
                    for path in paths {
                        let rate = GEMMProbe.rate(c, products: path)
                        line += String(format: "  %@ %6.1f (%.2fx)", Self.label(path), rate, rate / sgemm)
                    }
                    print(line + " GFLOP/s")
                }
            }
            if precision != "float32" {
                // Large products: the rates the instruction sets allow.
                for size in [512, 1024] {
                    let c = GEMMProbe.Case(label: "peak", transposeA: false, transposeB: false, m: size, n: size, k: size, beta: 0)
                    let sgemm = GEMMProbe.rate(c)
                    var line = String(format: "%4d³ (peak)                       sgemm %6.1f", size, sgemm)
                    for path in paths {
                        let rate = GEMMProbe.rate(c, products: path)
                        line += String(format: "  %@ %6.1f (%.2fx)", Self.label(path), rate, rate / sgemm)
                    }
                    print(line + " GFLOP/s")
                }
                // Every path against the float64 product of the rounded operands.
                for path in paths {
                    let worst = GEMMProbe.worstError(path: path)
                    print(String(format: "%@: worst error %.2e of the sum of |terms| over %d products (odd sizes, transposes, alpha, beta)",
                                 Self.label(path), worst.error, worst.cases))
                    guard worst.error < 1e-5 else { throw ValidationError("\(Self.label(path)) products are wrong") }
                }
                // Whole forwards (with the AMX path's packed state) against the fallback.
                for path in paths where path != .roundedFloat32 {
                    let difference = try GEMMProbe.forwardDifference(path: path)
                    print(String(format: "%@: forward h differs from the float32 fallback's by %.2e relative (both gates, two shapes; 1 and 4 threads give the same bits)",
                                 Self.label(path), difference))
                    guard difference < 2e-3 else { throw ValidationError("\(Self.label(path)) forward is wrong") }
                }
            }
            return
        }
        if step {
            let storage: MemoryStorage = memoryStorage == "float16" ? .float16
                : memoryStorage.hasPrefix("bfloat16") ? .bfloat16 : .native
            if let stepAccuracy {
                let checkpoints = stepAccuracy.split(separator: ",").compactMap { Int($0) }.sorted()
                for distribution in ["realistic", "extreme"] {
                    for g in gates {
                        let results = try StepAccuracy.run(heads: 8, keyDim: 256, valueDim: 512, gate: g, gates: distribution,
                                                           memoryStorage: storage, checkpoints: checkpoints,
                                                           forgetShift: forgetShift, threads: threads)
                        for r in results {
                            print(String(format: "step accuracy %@%@ %@ (C \(memoryStorage)) after %d tokens: h %.2e, C %.2e",
                                         distribution, forgetShift == 0 ? "" : " f̃+\(forgetShift)", g.isStabilized ? "exp" : "sig", r.tokens, r.h, r.c))
                        }
                    }
                }
                return
            }
            for g in gates {
                let m = try StepBenchmark.run(batch: stepBatch, heads: 8, keyDim: 256, valueDim: 512, gate: g,
                                              threads: threads, steps: repeats * 200, memoryStorage: storage,
                                              portableBF16Step: memoryStorage == "bfloat16-portable")
                // 25 GB/s: two-core DRAM triad bandwidth on the reference machine (CPU notes).
                print(String(format: "step %@ (C \(memoryStorage)): median %.1f µs, min %.1f µs, state %.1f MB, DRAM floor %.1f µs, %.0f B allocated/step",
                             g.isStabilized ? "exp" : "sig", m.median * 1e6, m.minimum * 1e6,
                             Double(m.stateBytes) / 1e6, m.floor(bandwidth: 25e9) * 1e6, m.bytesAllocatedPerStep))
            }
            return
        }
        if backward {
            var configurations: [BackwardConfiguration] = []
            for entry in selected {
                var shape = entry.shape
                if let sequence { shape.sequence = sequence }
                for g in gates {
                    for modeName in gradientModes.split(separator: ",") {
                        guard let gradientMode = GradientMode(rawValue: String(modeName)) else {
                            throw ValidationError("unknown gradient mode '\(modeName)'")
                        }
                        for chunk in list(chunkSizes) {
                            for stride in list(stateStrides) {
                                var options = ChunkwiseOptions.training
                                options.threads = threads
                                options.parallelism = parallelism
                                if let chunk { options.chunkSize = chunk }
                                if let qt = list(queryTiles).first ?? nil { options.queryTile = qt }
                                if let kt = list(kvTiles).first ?? nil { options.keyTile = kt }
                                configurations.append(BackwardConfiguration(name: entry.name, shape: shape, gate: g,
                                                                            mode: gradientMode, options: options,
                                                                            stateStride: stride ?? 4))
                            }
                        }
                    }
                }
            }
            print(BackwardBenchmark.tableHeader)
            let rows = [BackwardBenchmark.csvHeader] + (try BackwardSuite.run(configurations, repeats: repeats) { print($0) })
            if let csv {
                try (rows.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
                print("wrote \(csv)")
            }
            return
        }
        let peak = SGEMMPeak.measure(threads: threads)
        print(String(format: "sgemm peak (512², %d thread(s)): %.1f GFLOP/s", threads, peak))
        print("mode: \(mode)")
        let precisions: [ChunkwiseOptions.Precision] = precision == "both" ? [.inputType, .bf16Products]
            : precision == "bf16" ? [.bf16Products] : [.inputType]
        let paths = precision == "float32" ? [] : try selectedPaths(default: "automatic")
        let outputChoices: [Bool]
        switch outputs {
        case "fresh": outputChoices = [false]
        case "reused": outputChoices = [true]
        case "both": outputChoices = [false, true]
        default: throw ValidationError("--outputs is fresh, reused or both, not '\(outputs)'")
        }
        if outputChoices.contains(true), mode == "training" { throw ValidationError("--outputs reused is for the inference forward") }
        let storages: [ForwardStorage] = try storage.split(separator: ",").map {
            switch $0 {
            case "float32": return .float32
            case "bf16": return .bfloat16
            case "bf16-in": return .bfloat16In
            default: throw ValidationError("--storage takes float32, bf16 or bf16-in, not '\($0)'")
            }
        }
        if storages.contains(where: { $0 != .float32 }), mode == "training" {
            throw ValidationError("--storage bf16 is for the inference forward")
        }
        if precision != "float32" {
            print("bf16 products: " + paths.map { "\(Self.label($0)) = \(BF16Products.describe($0))" }.joined(separator: ", "))
        }
        print(ForwardSuite.tableHeader)
        var configurations: [ForwardConfiguration] = []
        for entry in selected {
            var shape = entry.shape
            if let sequence { shape.sequence = sequence }
            for g in gates {
                for chunk in list(chunkSizes) {
                    for qt in list(queryTiles) {
                        for kt in list(kvTiles) {
                            var options = ChunkwiseOptions(valueDimTile: dhvTile, threads: threads,
                                                           parallelism: parallelism, segments: segments)
                            if let chunk { options.chunkSize = chunk }
                            if let qt { options.queryTile = qt }
                            if let kt { options.keyTile = kt }
                            options.bf16TwoTermState = !bf16OneTerm
                            for p in precisions {
                                options.precision = p
                                for path in p == .inputType ? [BF16Products.Path.automatic] : paths {
                                    options.bf16Path = path
                                    for reuse in outputChoices {
                                        for store in storages {
                                            let name = entry.name + (p == .inputType ? "" : "+" + Self.label(path)) + (reuse ? "+into" : "")
                                                + (store == .float32 ? "" : store == .bfloat16 ? "+bf16io" : "+bf16in")
                                            configurations.append(ForwardConfiguration(
                                                name: name, shape: shape, gate: g, options: options,
                                                stateStride: mode == "training" ? 1 : nil, reusesOutput: reuse, storage: store))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let rows = [ForwardSuite.csvHeader] + (try ForwardSuite.run(configurations, repeats: repeats, peak: peak, profile: profile) { print($0) })
        if let csv {
            try (rows.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
            print("wrote \(csv)")
        }
    }
}

/// glibc's `mallopt` (declared in malloc.h, which the Glibc module does not import).
@_silgen_name("mallopt") func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32

BenchRunner.mainReportingErrors()
