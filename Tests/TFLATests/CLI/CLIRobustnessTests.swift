import Foundation
import Testing
import TFLA
import TFLATestSupport

/// The promise of every oracle command: the right answer, or one line on
/// stderr, exit status 2 and no new file in --out.
@Suite("tfla command line: failures")
struct CLIRobustnessTests {
    typealias CLI = CLITests

    /// Runs `tfla` through /bin/sh with `prelude` first (limits, traps).
    static func shell(_ prelude: String, _ arguments: [String]) throws -> CLI.Result {
        let quoted = ([CLI.executable.path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return try CLI.run(URL(fileURLWithPath: "/bin/sh"), ["-c", prelude + "; exec " + quoted.joined(separator: " ")])
    }

    static func expectOneLineFailure(_ result: CLI.Result, mentioning text: String, status: Int32 = 2,
                                     sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status == status, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "\(result.stderr)", sourceLocation: sourceLocation)
    }

    static func entries(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// Three 2 MB float16 files announcing DQK = DHV = 2²⁰.
    @Test func impossibleSizesAreOneLine() throws {
        let input = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: input) }
        for name in ["q", "k", "v", "dh"] { try NPY.write(Tensor<Float16>(shape: [1, 1, 1, 1 << 20]), to: input + "/\(name).npy") }
        for name in ["i", "f"] { try NPY.write(Tensor<Float16>(shape: [1, 1, 1]), to: input + "/\(name).npy") }
        let output = input + "/out"
        for command in [["run"], ["run", "--kernel", "recurrent"], ["grad"], ["grad", "--kernel", "recurrent"], ["step", "--tokens"]] {
            let result = try CLI.tfla(command + ["--in", input, "--out", output])
            Self.expectOneLineFailure(result, mentioning: "of memory")
            #expect(result.stderr.contains("TiB"), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: output), "\(command) created --out")
        }
    }

    @Test func hugeStateStrideIsClipped() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let x = MLSTMInputs<Double>.random(CLI.shape, seed: 8)
        try CLI.writeInputs(x, to: input)
        try NPY.write(x.v, to: input + "/dh.npy")
        let reference = try CLI.tfla(["grad", "--in", input, "--out", output + "/reference", "--state-stride", "1"])
        #expect(reference.status == 0, "\(reference.stderr)")
        for stride in ["1000000000", "4611686018427387904", "9223372036854775807"] {
            let result = try CLI.tfla(["grad", "--in", input, "--out", output + "/" + stride, "--state-stride", stride])
            #expect(result.status == 0, "\(result.stderr)")
            for name in ["dq", "dk", "dv", "di", "df"] {
                let same = try CLI.tfla(["compare", output + "/\(stride)/\(name).npy", output + "/reference/\(name).npy", "--rtol", "1e-12"])
                #expect(same.status == 0, "\(stride) \(name): \(same.stdout)")
            }
        }
    }

    /// c.npy an existing non-empty directory: refused before anything is
    /// written, no h.npy, no hidden file.
    @Test func outputSetIsAllOrNothing() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        try CLI.writeInputs(MLSTMInputs<Double>.random(CLI.shape, seed: 9), to: input)
        try FileManager.default.createDirectory(atPath: output + "/c.npy/inner", withIntermediateDirectories: true)
        Self.expectOneLineFailure(try CLI.tfla(["run", "--in", input, "--out", output]), mentioning: "c.npy: is a directory")
        #expect(Self.entries(output) == ["c.npy"])
        try FileManager.default.removeItem(atPath: output + "/c.npy")

        // A complete set, then a run whose writes fail (file size limit, as a
        // full disk would): the old set stays, whole, and nothing else.
        #expect(try CLI.tfla(["run", "--in", input, "--out", output]).status == 0)
        let before = try NPY.read(contentsOf: output + "/h.npy", as: Double.self)
        try CLI.writeInputs(MLSTMInputs<Double>.random(CLI.shape, seed: 10), to: input)
        let limited = try Self.shell("trap '' XFSZ; ulimit -f 2", ["run", "--in", input, "--out", output])
        Self.expectOneLineFailure(limited, mentioning: "file too large")
        #expect(Self.entries(output) == ["c.npy", "h.npy", "m.npy", "n.npy"])
        #expect(try NPY.read(contentsOf: output + "/h.npy", as: Double.self) == before)
    }

    @Test func failuresCreateNoOutputDirectory() throws {
        let input = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: input) }
        try CLI.writeInputs(MLSTMInputs<Double>.random(CLI.shape, seed: 11), to: input)
        let output = input + "/not/yet"
        Self.expectOneLineFailure(try CLI.tfla(["run", "--in", input, "--out", output, "--chunk-size", "0"]), mentioning: "chunkSize = 0")
        Self.expectOneLineFailure(try CLI.tfla(["grad", "--in", input, "--out", output]), mentioning: "dh.npy: missing input file")
        #expect(!FileManager.default.fileExists(atPath: input + "/not"))
        // --out a file: refused before the work.
        Self.expectOneLineFailure(try CLI.tfla(["run", "--in", input, "--out", input + "/q.npy"]), mentioning: "is not a directory")
        // Success creates the missing parents.
        #expect(try CLI.tfla(["run", "--in", input, "--out", output]).status == 0)
        #expect(Self.entries(output) == ["c.npy", "h.npy", "m.npy", "n.npy"])
    }

    /// Leftovers of killed runs (staging directories, partial files of dead
    /// processes) are removed by the next run into the directory.
    @Test func staleStagingIsRemoved() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        try CLI.writeInputs(MLSTMInputs<Double>.random(CLI.shape, seed: 12), to: input)
        let stale = output + "/.tfla-staging-999999999-7"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: stale + "/h.npy"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: output + "/.h.npy.tfla-partial-999999999-3"))
        try Data("mine".utf8).write(to: URL(fileURLWithPath: output + "/.keep"))
        #expect(try CLI.tfla(["run", "--in", input, "--out", output]).status == 0)
        #expect(Self.entries(output) == [".keep", "c.npy", "h.npy", "m.npy", "n.npy"])
    }

    /// SIGTERM at any moment: either no --out at all or the complete set,
    /// never a staging directory or a partial file.
    @Test func terminationLeavesNothingPartial() throws {
        let input = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: input) }
        let shape = ProblemShape(batch: 1, heads: 4, sequence: 64, keyDim: 256, valueDim: 512)
        try CLI.writeInputs(MLSTMInputs<Double>.random(shape, seed: 14), to: input)
        for attempt in 0..<12 {
            let output = input + "/out\(attempt)"
            let process = Process()
            process.executableURL = CLI.executable
            process.arguments = ["run", "--in", input, "--out", output]
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(attempt) * 25_000)
            process.terminate()
            process.waitUntilExit()
            let entries = Self.entries(output)
            #expect(entries.isEmpty || entries == ["c.npy", "h.npy", "m.npy", "n.npy"], "attempt \(attempt): \(entries)")
            if entries.isEmpty { #expect(!FileManager.default.fileExists(atPath: output)) }
        }
    }

    @Test func plainReasonsForOddFiles() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let good = directory + "/good.npy"
        try NPY.write(Tensor<Double>(shape: [2]), to: good)
        Self.expectOneLineFailure(try CLI.tfla(["compare", "/dev/zero", good]), mentioning: "/dev/zero: cannot read: is a device, not a regular file")
        let fifo = directory + "/pipe.npy"
        #expect(mkfifo(fifo, 0o600) == 0)
        Self.expectOneLineFailure(try CLI.tfla(["compare", fifo, good]), mentioning: "pipe.npy: cannot read: is a FIFO (named pipe), not a regular file")
        Self.expectOneLineFailure(try CLI.tfla(["compare", directory, good]), mentioning: "cannot read: is a directory")
        // A (sparse) file larger than the memory: refused before reading.
        let huge = directory + "/huge.npy"
        try NPY.write(Tensor<Double>(shape: [2]), to: huge)
        if truncate(huge, 1 << 42) == 0 {
            Self.expectOneLineFailure(try CLI.tfla(["compare", huge, good]), mentioning: "huge.npy: cannot read: 4398046511104 bytes, more than the")
        }
        let unreadable = directory + "/secret.npy"
        try NPY.write(Tensor<Double>(shape: [2]), to: unreadable)
        chmod(unreadable, 0)
        if getuid() != 0 {
            Self.expectOneLineFailure(try CLI.tfla(["compare", unreadable, good]), mentioning: "secret.npy: cannot read: permission denied")
        }
        for result in [try CLI.tfla(["compare", "/dev/zero", good])] { #expect(!result.stderr.contains("NSCocoaErrorDomain")) }
    }

    /// A header key with control characters is echoed escaped, on one line.
    @Test func controlCharactersAreEscaped() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var dict = Array("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'a\u{1B}[2J\tb': 1}".utf8)
        dict += [UInt8](repeating: 0x20, count: (64 - (10 + dict.count + 1) % 64) % 64) + [0x0A]
        let bytes = [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.count & 0xFF), UInt8(dict.count >> 8)] + dict + [UInt8](repeating: 0, count: 8)
        let path = directory + "/odd.npy"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let result = try CLI.tfla(["compare", path, path])
        Self.expectOneLineFailure(result, mentioning: "unexpected key 'a\\x1b[2J\\tb'")
        #expect(!result.stderr.contains("\u{1B}"))
    }

    @Test func epsBeyondFloat32IsNamed() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        try CLI.writeInputs(MLSTMInputs<Float>.random(CLI.shape, seed: 13), to: input)
        Self.expectOneLineFailure(try CLI.tfla(["run", "--in", input, "--out", output, "--eps", "1e300"]),
                                  mentioning: "--eps 1e+300: out of range for float32 (largest finite value 3.4028235e+38)")
        #expect(try CLI.tfla(["run", "--in", input, "--out", output, "--eps", "1e300", "--dtype", "float64"]).status == 0)
    }

    /// A NaN in the inputs: one line naming the array and index, exit 2,
    /// no --out; every command that computes.
    @Test func nonFiniteInputsAreNamed() throws {
        let input = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: input) }
        var x = MLSTMInputs<Double>.random(CLI.shape, seed: 14)
        x.v.withUnsafeMutableBufferPointer { $0[CLI.shape.valueDim + 1] = .nan }
        try CLI.writeInputs(x, to: input)
        try NPY.write(MLSTMInputs<Double>.random(CLI.shape, seed: 15).v, to: input + "/dh.npy")
        let output = input + "/out"
        for arguments in [["run"], ["run", "--kernel", "recurrent"], ["run", "--dtype", "float32"], ["grad"]] {
            Self.expectOneLineFailure(try CLI.tfla(arguments + ["--in", input, "--out", output]),
                                      mentioning: "v[0, 0, 1, 1]: nan found")
        }
        #expect(!FileManager.default.fileExists(atPath: output))
        let skipped = try CLI.tfla(["run", "--in", input, "--out", output, "--skip-value-check"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
    }

    @Test func compareHandlesNonFiniteValues() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let a = try Tensor<Double>(shape: [4], scalars: [1, .nan, .infinity, 4])
        let b = try Tensor<Double>(shape: [4], scalars: [1, .nan, .infinity, 4])
        let c = try Tensor<Double>(shape: [4], scalars: [1, 2, .infinity, 4])
        let d = try Tensor<Double>(shape: [4], scalars: [1, .nan, -.infinity, 4.5])
        for (name, t) in [("a", a), ("b", b), ("c", c), ("d", d)] { try NPY.write(t, to: directory + "/\(name).npy") }
        let (pa, pb, pc, pd) = (directory + "/a.npy", directory + "/b.npy", directory + "/c.npy", directory + "/d.npy")
        // NaN against NaN: a violation, unless --equal-nan.
        let strict = try CLI.tfla(["compare", pa, pb])
        #expect(strict.status == 1 && strict.stdout.contains("max_abs_error=nan") && strict.stdout.contains("violations=1 of 4"), "\(strict.stdout)")
        #expect(strict.stdout.contains("worst_index=[1]") && strict.stdout.contains("nonfinite_mismatches=1"))
        let equal = try CLI.tfla(["compare", pa, pb, "--equal-nan"])
        #expect(equal.status == 0 && equal.stdout.contains("max_abs_error=0.0") && equal.stdout.contains("violations=0 of 4"), "\(equal.stdout)")
        // NaN against a number is never equal; an infinity only to itself.
        let nanVsNumber = try CLI.tfla(["compare", pa, pc, "--equal-nan"])
        #expect(nanVsNumber.status == 1 && nanVsNumber.stdout.contains("max_rel_error=nan"), "\(nanVsNumber.stdout)")
        let infinities = try CLI.tfla(["compare", pb, pd, "--equal-nan", "--rtol", "1"])
        #expect(infinities.status == 1 && infinities.stdout.contains("max_abs_error=inf") && infinities.stdout.contains("max_rel_error=inf"),
                "\(infinities.stdout)")
        #expect(infinities.stdout.contains("worst_index=[2]") && infinities.stdout.contains("violations=1 of 4"), "\(infinities.stdout)")
    }

    /// Usage errors exit 64 (ArgumentParser's convention), data errors 2.
    @Test func exitStatusPolicy() throws {
        Self.expectOneLineFailure(try CLI.tfla(["compare", "--bogus", "a", "b"]), mentioning: "--bogus", status: 64)
        Self.expectOneLineFailure(try CLI.tfla(["compare", "--rtol", "x", "a", "b"]), mentioning: "rtol", status: 64)
        Self.expectOneLineFailure(try CLI.tfla(["compare", "/nonexistent/a.npy", "/nonexistent/b.npy"]),
                                  mentioning: "a.npy: cannot read: no such file or directory")
        let help = try CLI.tfla(["--help"])
        #expect(help.status == 0 && help.stdout.replacingOccurrences(of: "\n", with: " ").contains("64 usage"), "\(help.stdout)")
    }
}
