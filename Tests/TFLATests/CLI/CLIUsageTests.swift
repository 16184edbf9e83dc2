import Foundation
import Testing
import TFLA
import TFLATestSupport

/// Usage errors of `tfla` and `tfla-bench`, the BLAS core warning, and what
/// the shipped `tfla` links.
@Suite("tfla and tfla-bench usage")
struct CLIUsageTests {
    typealias CLI = CLITests

    static var bench: URL { CLI.executable.deletingLastPathComponent().appendingPathComponent("tfla-bench") }

    @Test func unknownCommandIsNamed() throws {
        let result = try CLI.tfla(["runn", "--in", "x"])
        CLIRobustnessTests.expectOneLineFailure(result, mentioning: "tfla: error: unknown command 'runn'", status: 64)
        #expect(result.stderr.contains("run, step, compare, grad"), "\(result.stderr)")
        // `tfla bench` moved to `tfla-bench`.
        CLIRobustnessTests.expectOneLineFailure(try CLI.tfla(["bench"]), mentioning: "unknown command 'bench'", status: 64)
        #expect(try CLI.tfla(["help", "run"]).status == 0)
    }

    @Test func negativeEpsIsAValueAndIsRefused() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/in", withIntermediateDirectories: false)
        try CLI.writeInputs(MLSTMInputs<Double>.random(CLIAdversarialTests.shape), to: root + "/in")
        for command in ["run", "step", "grad"] {
            let extra = command == "step" ? ["--tokens"] : []
            let result = try CLI.tfla([command] + extra + ["--in", root + "/in", "--out", root + "/out", "--eps", "-1"])
            CLIRobustnessTests.expectOneLineFailure(result, mentioning: "--eps -1.0: must be finite and at least 0")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/out"))
    }

    @Test func benchRefusesUnknownShapesAndListsThem() throws {
        let unknown = try CLI.run(Self.bench, ["--shapes", "foo"])
        CLIRobustnessTests.expectOneLineFailure(unknown, mentioning: "tfla-bench: error: --shapes: unknown shape 'foo'", status: 64)
        #expect(unknown.stderr.contains("xlstm-7b-head, paper-head, batched") && unknown.stdout.isEmpty, "\(unknown.stdout)")
        let scaling = try CLI.run(Self.bench, ["--shapes", "batched,one-head-64k"])
        CLIRobustnessTests.expectOneLineFailure(scaling, mentioning: "'one-head-64k' is a scaling shape, for --threads-sweep or --simulate only",
                                                status: 64)
        let help = try CLI.run(Self.bench, ["--help"])
        let text = help.stdout.replacingOccurrences(of: "\n", with: " ").split(separator: " ").joined(separator: " ")
        #expect(help.status == 0 && text.contains("xlstm-7b-head") && text.contains("one-head-64k"), "\(help.stdout)")
        CLIRobustnessTests.expectOneLineFailure(try CLI.run(Self.bench, ["--bogus"]), mentioning: "tfla-bench: error: ", status: 64)
    }

    /// The CSV benchmark that `tfla bench` used to write, from `tfla-bench`.
    @Test func benchWritesCSV() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let csv = directory + "/bench.csv"
        let result = try CLI.run(Self.bench, ["--shapes", "batched", "--sequence", "64", "--repeats", "1", "--csv", csv])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3 && lines.first?.hasPrefix("shape,B,NH,S") == true, "\(lines)")
        let backward = try CLI.run(Self.bench, ["--backward", "--gate", "exp", "--gradient-modes", "reference", "--shapes", "batched",
                                                "--sequence", "64", "--repeats", "1", "--state-strides", "2", "--csv", csv])
        #expect(backward.status == 0, "\(backward.stderr)")
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 2 && rows.first?.contains("backward_median_s") == true, "\(rows)")
        #expect(rows.last?.contains(",exp,reference,128,") == true, "\(rows)")
    }

    /// OPENBLAS_CORETYPE naming a core below the CPU's is warned about.
    @Test func forcedWeakBLASCoreIsWarned() throws {
        let weak: String, best: String
        switch BuildInfo.cpuISA {
        case "AVX-512": (weak, best) = ("Haswell", "SkylakeX")
        case "AVX2": (weak, best) = ("Sandybridge", "Haswell")
        default: return  // no stronger core to lose
        }
        let forced = try CLIRobustnessTests.shell("export OPENBLAS_CORETYPE=\(weak)", ["info"])
        #expect(forced.status == 0)
        #expect(forced.stdout.contains("warning: OPENBLAS_CORETYPE=\(weak) in the environment selects"), "\(forced.stdout)")
        let matching = try CLIRobustnessTests.shell("export OPENBLAS_CORETYPE=\(best)", ["info"])
        #expect(matching.status == 0 && !matching.stdout.contains("OPENBLAS_CORETYPE=\(best) in the environment"), "\(matching.stdout)")
    }

    /// `tfla` links the library only: no test support, no benchmarks.
    @Test func tflaLinksNoTestOrBenchmarkCode() throws {
        let binary = try Data(contentsOf: CLI.executable)
        for module in ["TFLATestSupport", "TFLABenchmarkKit"] {
            let mangled = Data("\(module.utf8.count)\(module)".utf8)
            #expect(binary.range(of: mangled) == nil, "tfla contains symbols of \(module)")
        }
        #expect(binary.range(of: Data("4TFLA".utf8)) != nil)
    }
}
