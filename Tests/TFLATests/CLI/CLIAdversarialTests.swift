import Foundation
import Testing
import TFLA
import TFLATestSupport

/// The command line under inputs an adversary would pick: concurrent writers
/// into one --out, sizes announced by headers only, odd --in paths.
@Suite("tfla command line: adversarial inputs")
struct CLIAdversarialTests {
    typealias CLI = CLITests

    static let shape = ProblemShape(batch: 1, heads: 2, sequence: 40, keyDim: 8, valueDim: 8)

    /// Starts `tfla` without waiting; output discarded.
    static func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Several runs with different inputs into one --out: the set left there
    /// is one run's whole set, whichever finished last.
    @Test func concurrentRunsIntoOneOutLeaveOneRunsSet() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let runs = 6
        var expected: [[String: Tensor<Double>]] = []
        for run in 0..<runs {
            let x = MLSTMInputs<Double>.random(Self.shape, seed: UInt64(100 + run))
            try FileManager.default.createDirectory(atPath: root + "/in\(run)", withIntermediateDirectories: false)
            try CLI.writeInputs(x, to: root + "/in\(run)")
            let result = try Reference.recurrent(x, gate: .exponential)
            expected.append(["h": result.h, "c": result.state.c, "n": result.state.n, "m": result.state.m])
        }
        for trial in 0..<8 {
            let output = root + "/out\(trial)"
            let processes = try (0..<runs).map { run in
                try Self.start(["run", "--kernel", "recurrent", "--in", root + "/in\(run)", "--out", output])
            }
            for process in processes { process.waitUntilExit() }
            #expect(processes.allSatisfy { $0.terminationStatus == 0 }, "trial \(trial): a run failed")
            let set = try ["h", "c", "n", "m"].map { ($0, try NPY.read(contentsOf: output + "/\($0).npy", as: Double.self)) }
            let owners = expected.indices.filter { run in set.allSatisfy { expected[run][$0.0] == $0.1 } }
            #expect(owners.count == 1, "trial \(trial): the set in --out mixes runs")
            #expect(CLIRobustnessTests.entries(output) == ["c.npy", "h.npy", "m.npy", "n.npy"], "trial \(trial)")
        }
    }

    /// A `.npy` file of `shape` whose data is a hole (sparse): only its
    /// header is written.
    static func writeSparse(_ path: String, descriptor: String, shape: [Int], elementSize: Int) throws {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
        header += "\n"
        var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)]
        bytes += Array(header.utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(truncate(path, off_t(bytes.count + shape.reduce(1, *) * elementSize)) == 0)
    }

    /// float16 inputs whose conversion to float64 exceeds the memory: refused
    /// from the headers, before any data is read, as one line with status 2.
    @Test func conversionBeyondMemoryIsRefusedBeforeReading() throws {
        let input = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: input) }
        // v holds the bulk: as float64 it needs more than the memory
        // available, as float16 (a sparse file) a quarter of that.
        let available = MemoryBudget.availableBytes()
        try #require(available < Int.max / 8, "memory cannot be read on this machine")
        let dhv = 4096
        let sequence = available / (8 * dhv) + 1
        let output = input + "/out"
        try Self.writeSparse(input + "/v.npy", descriptor: "<f2", shape: [1, 1, sequence, dhv], elementSize: 2)
        try Self.writeSparse(input + "/q.npy", descriptor: "<f2", shape: [1, 1, sequence, 1], elementSize: 2)
        try Self.writeSparse(input + "/k.npy", descriptor: "<f2", shape: [1, 1, sequence, 1], elementSize: 2)
        try Self.writeSparse(input + "/i.npy", descriptor: "<f2", shape: [1, 1, sequence], elementSize: 2)
        try Self.writeSparse(input + "/f.npy", descriptor: "<f2", shape: [1, 1, sequence], elementSize: 2)
        for command in [["run", "--dtype", "float64"], ["run", "--kernel", "recurrent", "--dtype", "float64"],
                        ["step", "--tokens", "--dtype", "float64"]] {
            let started = Date()
            let result = try CLI.tfla(command + ["--in", input, "--out", output])
            CLIRobustnessTests.expectOneLineFailure(result, mentioning: "converted to float64")
            #expect(result.stderr.contains("of memory") && !result.stderr.contains("Fatal"), "\(result.stderr)")
            #expect(Date().timeIntervalSince(started) < 10, "\(command): \(Date().timeIntervalSince(started)) s")
            #expect(!FileManager.default.fileExists(atPath: output))
        }
        let compare = try CLI.tfla(["compare", input + "/v.npy", input + "/v.npy"])
        CLIRobustnessTests.expectOneLineFailure(compare, mentioning: "tfla compare (both arrays in float64): needs")
    }

    /// The header alone gives what a full read would refuse, with its error.
    @Test func headersAreCheckedAsReadsAre() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/a.npy"
        try NPY.write(Tensor<Float>(shape: [3, 5]), to: path)
        #expect(try NPY.header(contentsOf: path) == NPYArrayHeader(shape: [3, 5], elementSize: 4, dtypeName: "float32"))
        let size = try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        #expect(truncate(path, off_t(size - 1)) == 0)
        #expect(throws: NPYError(path: path, problem: .truncated(expectedBytes: 60, actualBytes: 59))) { try NPY.header(contentsOf: path) }
        #expect(throws: NPYError(path: path, problem: .truncated(expectedBytes: 60, actualBytes: 59))) { try NPY.read(contentsOf: path) }
    }

    /// --in that is not a directory, and inputs that are not files, are
    /// named for what they are.
    @Test func oddInputPathsAreNamed() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let output = root + "/out"
        #expect(symlink(root + "/loop", root + "/loop") == 0)
        CLIRobustnessTests.expectOneLineFailure(try CLI.tfla(["run", "--in", root + "/loop", "--out", output]),
                                                mentioning: "loop: a symbolic link loop")
        #expect(FileManager.default.createFile(atPath: root + "/plain", contents: Data()))
        CLIRobustnessTests.expectOneLineFailure(try CLI.tfla(["run", "--in", root + "/plain", "--out", output]),
                                                mentioning: "plain: a regular file, not a directory")
        CLIRobustnessTests.expectOneLineFailure(try CLI.tfla(["run", "--in", root + "/absent", "--out", output]),
                                                mentioning: "absent: no such directory")
        let input = root + "/in"
        try FileManager.default.createDirectory(atPath: input, withIntermediateDirectories: false)
        try CLI.writeInputs(MLSTMInputs<Double>.random(Self.shape), to: input)
        try FileManager.default.removeItem(atPath: input + "/q.npy")
        try FileManager.default.createDirectory(atPath: input + "/q.npy", withIntermediateDirectories: false)
        CLIRobustnessTests.expectOneLineFailure(try CLI.tfla(["run", "--in", input, "--out", output]),
                                                mentioning: "q.npy: cannot read: is a directory")
        try FileManager.default.removeItem(atPath: input + "/q.npy")
        #expect(symlink(input + "/q.npy", input + "/q.npy") == 0)
        CLIRobustnessTests.expectOneLineFailure(try CLI.tfla(["run", "--in", input, "--out", output]),
                                                mentioning: "q.npy: cannot read: a symbolic link loop")
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
