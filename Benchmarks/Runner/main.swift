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
    @Option(help: "Timed repetitions per configuration.") var repeats = 5
    @Option(help: "Gates to run: exp, sig or both.") var gate = "both"
    @Option(help: "Chunk sizes, comma-separated (default: the library's, 64 for the forward, 128 for forward + backward).")
    var chunkSizes: String?
    @Option(help: "Query tile sizes, comma-separated (default: the library default).") var queryTiles: String?
    @Option(help: "Key/value tile sizes, comma-separated (default: the library default).") var kvTiles: String?
    @Option(help: "Shapes: names from the standard list, comma-separated, or 'all'.") var shapes = "all"
    @Option(help: "Override S for every shape (e.g. for the linear-scaling check).") var sequence: Int?
    @Option(help: "Kernel mode: inference or training (saves every chunk state).") var mode = "inference"
    @Option(help: "Write results as CSV to this file.") var csv: String?
    @Flag(help: "Print single-thread GEMM rates at the kernel's product shapes (with --backward: the backward's) and exit.")
    var gemmProbe = false
    @Flag(help: "Benchmark the generation step (B=1, NH=8, DQK=256, DHV=512) instead and exit.") var step = false
    @Option(help: "With --step: how C is stored (native, float16, bfloat16).") var memoryStorage = "native"
    @Flag(help: "Benchmark forward (training mode) + backward instead.") var backward = false
    @Option(help: "With --backward: gradient modes, comma-separated (exact, reference).") var gradientModes = "exact"
    @Option(help: "With --backward: state strides, comma-separated (default: the library's, 4).") var stateStrides: String?

    func run() throws {
        let gates: [Gate] = gate == "both" ? [.exponential, .sigmoid(normalize: true)]
            : gate == "sig" ? [.sigmoid(normalize: true)] : [.exponential]
        let selected = BenchmarkShape.standard.filter { shapes == "all" || shapes.split(separator: ",").contains(Substring($0.name)) }
        let list = { (text: String?) -> [Int?] in text.map { $0.split(separator: ",").compactMap { Int($0) } } ?? [nil] }
        print("tfla-bench: \(BLAS.configuration), build \(BuildInfo.compiledISA), \(threads) thread(s)")
        if gemmProbe {
            for chunk in list(chunkSizes).map({ $0 ?? ChunkwiseOptions.default.chunkSize }) {
                let cases = backward ? GEMMProbe.backwardCases(chunk: chunk, keyDim: 256, valueDim: 512, tile: 64)
                    : GEMMProbe.forwardCases(chunk: chunk, keyDim: 256, valueDim: 512, tile: 64)
                for c in cases {
                    print(String(format: "L=%-4d %@ m=%-4d n=%-4d k=%-4d %6.1f GFLOP/s", chunk, c.label, c.m, c.n, c.k, GEMMProbe.rate(c)))
                }
            }
            return
        }
        if step {
            let storage: MemoryStorage = memoryStorage == "float16" ? .float16 : memoryStorage == "bfloat16" ? .bfloat16 : .native
            for g in gates {
                let m = try StepBenchmark.run(batch: 1, heads: 8, keyDim: 256, valueDim: 512, gate: g,
                                              threads: threads, steps: repeats * 200, memoryStorage: storage)
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
                                if let chunk { options.chunkSize = chunk }
                                if let stride { options.stateStride = stride }
                                if let qt = list(queryTiles).first ?? nil { options.queryTile = qt }
                                if let kt = list(kvTiles).first ?? nil { options.kvTile = kt }
                                configurations.append(BackwardConfiguration(name: entry.name, shape: shape, gate: g,
                                                                            mode: gradientMode, options: options))
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
        print(ForwardSuite.tableHeader)
        var configurations: [ForwardConfiguration] = []
        for entry in selected {
            var shape = entry.shape
            if let sequence { shape.sequence = sequence }
            for g in gates {
                for chunk in list(chunkSizes) {
                    for qt in list(queryTiles) {
                        for kt in list(kvTiles) {
                            var options = ChunkwiseOptions(threads: threads, mode: mode == "training" ? .training : .inference)
                            if let chunk { options.chunkSize = chunk }
                            if let qt { options.queryTile = qt }
                            if let kt { options.kvTile = kt }
                            configurations.append(ForwardConfiguration(name: entry.name, shape: shape, gate: g, options: options))
                        }
                    }
                }
            }
        }
        let rows = [ForwardSuite.csvHeader] + (try ForwardSuite.run(configurations, repeats: repeats, peak: peak) { print($0) })
        if let csv {
            try (rows.joined(separator: "\n") + "\n").write(toFile: csv, atomically: true, encoding: .utf8)
            print("wrote \(csv)")
        }
    }
}

BenchRunner.main()
