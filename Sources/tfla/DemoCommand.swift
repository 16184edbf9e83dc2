import Foundation
import ArgumentParser
import TFLA

struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a forward pass on a built-in problem and report time and throughput."
    )

    @Option(name: .customLong("batch"), help: "Batch size B.") var batch = 1
    @Option(name: .customLong("heads"), help: "Heads NH.") var heads = 8
    @Option(name: .customLong("seq"), help: "Sequence length S.") var sequence = 8192
    @Option(name: .customLong("dqk"), help: "Query/key head dimension DQK.") var keyDim = 256
    @Option(name: .customLong("dhv"), help: "Value head dimension DHV.") var valueDim = 512
    @Option(help: "Input gate: exp or sig.") var gate = "exp"
    @Option(name: .customLong("repeat"), help: "Timed repetitions (the median is reported).") var repeats = 3
    @Option(help: "Tokens per chunk.") var chunkSize = ChunkwiseOptions.default.chunkSize
    @Option(help: "Worker threads (default: all available cores).") var threads: Int?

    func run() throws {
        guard [batch, heads, sequence, keyDim, valueDim, repeats].allSatisfy({ $0 >= 1 }) else {
            throw fail("--batch, --heads, --seq, --dqk, --dhv and --repeat must be at least 1")
        }
        let gateValue: Gate
        switch gate {
        case "exp": gateValue = .exponential
        case "sig": gateValue = .sigmoid(normalize: true)
        default: throw fail("--gate must be exp or sig, got '\(gate)'")
        }
        let shape = ProblemShape(batch: batch, heads: heads, sequence: sequence, keyDim: keyDim, valueDim: valueDim)
        print("problem:    \(shape), gate \(gateValue), float32")
        print("inputs:     random (seed 42), f̃ ~ N(3, 1), ĩ ~ N(0, 1) …", terminator: "")
        FileHandleShim.flushStandardOutput()
        let inputs = MLSTMInputs<Float>.seededRealistic(shape, seed: 42)
        print(" ready")
        let options = ChunkwiseOptions(chunkSize: chunkSize, threads: threads)
        print("kernel:     chunkwise (TFLA), chunk size \(chunkSize), \(threads ?? Workers.defaultCount) thread(s)")
        print("build ISA:  \(BuildInfo.compiledISA)")
        if let warning = BuildInfo.underTargetedBuildWarning { print(warning) }
        print("BLAS:       \(BLAS.configuration)")
        if let warning = BLAS.configuration.forcedWeakCoreWarning { print(warning) }
        var output: MLSTMOutput<Float>?
        let seconds = try Stopwatch.median(repeats: repeats) {
            output = try Chunkwise.forward(inputs, gate: gateValue, options: options)
        }
        let tokens = Double(batch * sequence)
        let floorFlops = 4.0 * Double(shape.batchHeads * sequence * keyDim * valueDim)
        print("time:       \(format(seconds * 1e3)) ms (median of \(repeats))")
        print("throughput: \(format(tokens / seconds)) tokens/s, \(format(floorFlops / seconds / 1e9)) GFLOP/s (floor work)")
        if let h = output?.h {
            let checksum = h.withUnsafeBufferPointer { $0.reduce(0.0) { $0 + Double($1) } }
            print("checksum:   sum(h) = \(checksum)")
        }
    }

    private func format(_ value: Double) -> String {
        String(format: "%.3g", value)
    }
}
