import ArgumentParser
import TFLA

struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Print the version, build target, BLAS core and threads."
    )

    func run() throws {
        let blas = BLAS.configuration
        print("tfla \(BuildInfo.version)")
        print("build ISA:      \(BuildInfo.compiledISA) (CPU supports \(BuildInfo.cpuISA))")
        if let warning = BuildInfo.underTargetedBuildWarning { print(warning) }
        print("BLAS:           \(blas)")
        print("BLAS core:      \(blas.coreName)")
        if let warning = blas.forcedWeakCoreWarning { print(warning) }
        print("BLAS build:     \(blas.buildConfig)")
        print("bf16 products:  \(BF16Products.describe(.automatic)) (--precision bf16; available: \(BF16Products.availablePaths.map(BF16Products.describe).joined(separator: ", ")))")
        print("worker threads: \(Workers.defaultCount)")
        print("parallelism:    \(Workers.defaultCount) (the worker count the chunkwise work is planned for by default; it decides the rounding, so pass --parallelism to reproduce bits on another machine)")
        // The default problem of `tfla demo`, the 7B head; `tfla plan` prints others.
        let head = ProblemShape(batch: 1, heads: 8, sequence: 8192, keyDim: 256, valueDim: 512)
        if let plan = try? Chunkwise.plan(for: head, gate: .exponential, call: .inference, options: .default) {
            print(plan)
        }
    }
}
