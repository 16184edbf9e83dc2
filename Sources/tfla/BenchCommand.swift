import ArgumentParser
import Foundation
import TFLA
import TFLABenchmarkKit

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the chunkwise kernels (float32) at the standard shapes and write CSV.",
        discussion: """
        Forward: median time, effective GFLOP/s, floor efficiency against an sgemm peak \
        measured in the same run, and bytes allocated. With --backward: forward (training \
        mode) + backward, their medians and the bytes allocated. A progress bar goes to stderr.
        """)

    @Option(help: "Worker threads.") var threads = Workers.defaultCount
    @Option(help: "Timed repetitions per configuration.") var repeats = 5
    @Option(help: "Gates: exp, sig or both.") var gate = "both"
    @Option(help: "Shapes from the standard list (xlstm-7b-head, paper-head, batched), comma-separated, or 'all'.")
    var shapes = "all"
    @Option(help: "Chunk sizes, comma-separated (default: the library's default, 64, or 128 with --backward).") var chunkSizes: String?
    @Option(help: "Override S for every shape.") var sequence: Int?
    @Option(help: "Kernel mode: inference or training.") var mode = "inference"
    @Option(help: "CSV output file.") var csv = "tfla-bench.csv"
    @Flag(help: "Benchmark forward (training mode) + backward.") var backward = false
    @Option(help: "With --backward: gradient mode, exact or reference.") var gradientMode: GradientMode = .exact
    @Option(help: "With --backward: keep every N-th chunk state; the backward recomputes the others (default 4).")
    var stateStride = 4

    func run() throws {
        let names = shapes == "all" ? BenchmarkShape.standard.map(\.name) : shapes.split(separator: ",").map(String.init)
        let known = Set(BenchmarkShape.standard.map(\.name))
        if let unknown = names.first(where: { !known.contains($0) }) { throw fail("--shapes: unknown shape '\(unknown)'") }
        guard ["exp", "sig", "both"].contains(gate) else { throw fail("--gate must be exp, sig or both, got '\(gate)'") }
        guard ["inference", "training"].contains(mode) else { throw fail("--mode must be inference or training, got '\(mode)'") }
        let defaultChunk = (backward ? ChunkwiseOptions.training : ChunkwiseOptions.default).chunkSize
        let chunks = (chunkSizes ?? "\(defaultChunk)").split(separator: ",").compactMap { Int($0) }
        guard !chunks.isEmpty, chunks.allSatisfy({ $0 >= 1 }), threads >= 1, repeats >= 1, (sequence ?? 1) >= 1, stateStride >= 1 else {
            throw fail("--chunk-sizes, --threads, --repeats, --sequence and --state-stride must be positive integers")
        }
        let gates: [Gate] = gate == "both" ? [.exponential, .sigmoid(normalize: true)]
            : gate == "sig" ? [.sigmoid(normalize: true)] : [.exponential]
        var configurations: [ForwardConfiguration] = []
        for entry in BenchmarkShape.standard where names.contains(entry.name) {
            var shape = entry.shape
            if let sequence { shape.sequence = sequence }
            for g in gates {
                for chunk in chunks {
                    let options = ChunkwiseOptions(chunkSize: chunk, threads: threads)
                    configurations.append(ForwardConfiguration(name: entry.name, shape: shape, gate: g, options: options,
                                                               stateStride: mode == "training" ? 1 : nil))
                }
            }
        }
        var stderr = StandardError()
        let progress = { (done: Int, total: Int, label: String) in
            let width = 30
            let filled = total == 0 ? width : done * width / total
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            print("\r[\(bar)] \(done)/\(total) \(label)\u{1B}[K", terminator: done == total ? "\n" : "", to: &stderr)
        }
        let lines: [String]
        if backward {
            print("tfla bench: \(BLAS.configuration), build \(BuildInfo.compiledISA), \(threads) thread(s), forward + backward (\(gradientMode.rawValue))")
            print(BackwardBenchmark.tableHeader)
            let list = configurations.map { c -> BackwardConfiguration in
                BackwardConfiguration(name: c.name, shape: c.shape, gate: c.gate, mode: gradientMode, options: c.options,
                                      stateStride: stateStride)
            }
            lines = [BackwardBenchmark.csvHeader] + (try BackwardSuite.run(list, repeats: repeats, progress: progress, report: { print($0) }))
        } else {
            print("tfla bench: \(BLAS.configuration), build \(BuildInfo.compiledISA), \(threads) thread(s), \(mode)")
            let peak = SGEMMPeak.measure(threads: threads)
            print(String(format: "sgemm peak (512², %d thread(s)): %.1f GFLOP/s", threads, peak))
            print(ForwardSuite.tableHeader)
            lines = [ForwardSuite.csvHeader] + (try ForwardSuite.run(configurations, repeats: repeats, peak: peak, progress: progress,
                                                                   report: { print($0) }))
        }
        let text = Array((lines.joined(separator: "\n") + "\n").utf8)
        do {
            try text.withUnsafeBytes { bytes in try NPYFile.writeAtomically([bytes], to: csv) }
        } catch let NPYError.Problem.unwritable(reason) {
            throw fail("--csv \(csv): cannot write: \(reason)")
        }
        print("wrote \(csv)")
    }
}
