import Foundation
import Testing
import TFLA
import TFLATestSupport

/// The `tfla` oracle commands, driven as a test suite elsewhere would.
@Suite("tfla command line")
struct CLITests {
    /// The `tfla` executable next to the test bundle (built with the tests).
    static let executable: URL = {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for directory in [runner.deletingLastPathComponent(), Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()] {
            let candidate = directory.appendingPathComponent("tfla")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return runner.deletingLastPathComponent().appendingPathComponent("tfla")
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func tfla(_ arguments: [String]) throws -> Result {
        try run(executable, arguments)
    }

    /// Runs a program to completion and collects its exit status and output.
    static func run(_ program: URL, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = program
        process.arguments = arguments
        let (out, err) = (Pipe(), Pipe())
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "tfla-cli-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func writeInputs<S: TensorScalar>(_ x: MLSTMInputs<S>, to directory: String) throws {
        for (name, tensor) in [("q", x.q), ("k", x.k), ("v", x.v), ("i", x.i), ("f", x.f)] {
            try NPY.write(tensor, to: directory + "/" + name + ".npy")
        }
    }

    static let shape = ProblemShape(batch: 2, heads: 2, sequence: 37, keyDim: 8, valueDim: 6)

    @Test func runAgreesWithTheLibrary() throws {
        let (input, output) = (try Self.temporaryDirectory(), try Self.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let x = MLSTMInputs<Double>.random(Self.shape, gates: .extreme, seed: 3)
        let initial = try Reference.recurrent(try x.sequenceSlice(0..<5), gate: .exponential).state
        try Self.writeInputs(x, to: input)
        for (name, tensor) in [("c0", initial.c), ("n0", initial.n), ("m0", initial.m)] {
            try NPY.write(tensor, to: input + "/" + name + ".npy")
        }
        let result = try Self.tfla(["run", "--in", input, "--out", output, "--chunk-size", "8", "--threads", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try Chunkwise.forward(x, gate: .exponential, initialState: initial,
                                             options: ChunkwiseOptions(chunkSize: 8, threads: 3))
        #expect(try NPY.read(contentsOf: output + "/h.npy", as: Double.self) == expected.h)
        #expect(try NPY.read(contentsOf: output + "/c.npy", as: Double.self) == expected.state.c)
        #expect(try NPY.read(contentsOf: output + "/n.npy", as: Double.self) == expected.state.n)
        #expect(try NPY.read(contentsOf: output + "/m.npy", as: Double.self) == expected.state.m)

        let recurrent = try Self.tfla(["run", "--kernel", "recurrent", "--in", input, "--out", output])
        #expect(recurrent.status == 0)
        let reference = try Reference.recurrent(x, gate: .exponential, initialState: initial)
        #expect(try NPY.read(contentsOf: output + "/h.npy", as: Double.self) == reference.h)
    }

    @Test func sigmoidParallelInRequestedDType() throws {
        let (input, output) = (try Self.temporaryDirectory(), try Self.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let x = MLSTMInputs<Float>.random(Self.shape, seed: 4)
        try Self.writeInputs(x, to: input)
        let result = try Self.tfla(["run", "--kernel", "parallel", "--gate", "sig", "--no-normalize",
                                    "--dtype", "float64", "--in", input, "--out", output])
        #expect(result.status == 0, "\(result.stderr)")
        let x64 = x.converted(to: Double.self)
        let expected = try Reference.parallel(x64, gate: .sigmoid(normalize: false))
        #expect(try NPY.read(contentsOf: output + "/h.npy", as: Double.self) == expected)
        #expect(!FileManager.default.fileExists(atPath: output + "/c.npy"))
    }

    @Test func gradAgreesWithTheLibrary() throws {
        let (input, output) = (try Self.temporaryDirectory(), try Self.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let x = MLSTMInputs<Double>.random(Self.shape, gates: .extreme, seed: 8)
        let dh = MLSTMInputs<Double>.random(Self.shape, seed: 9).v
        try Self.writeInputs(x, to: input)
        try NPY.write(dh, to: input + "/dh.npy")

        // Parallel, reference-compatible, sigmoid gate.
        var result = try Self.tfla(["grad", "--kernel", "parallel", "--mode", "reference", "--gate", "sig",
                                    "--in", input, "--out", output])
        #expect(result.status == 0, "\(result.stderr)")
        let parallel = try Reference.parallelBackward(x, gate: .sigmoid(normalize: true), dh: dh, mode: .reference)
        #expect(try NPY.read(contentsOf: output + "/dq.npy", as: Double.self) == parallel.dq)
        #expect(try NPY.read(contentsOf: output + "/df.npy", as: Double.self) == parallel.df)
        #expect(!FileManager.default.fileExists(atPath: output + "/dc0.npy"))

        // Chunkwise (the default) with an initial state and only dc given:
        // dn and dm count as zeros.
        let initial = try Reference.recurrent(try x.sequenceSlice(0..<5), gate: .exponential).state
        let dc = MLSTMInputs<Double>.random(ProblemShape(batch: 2, heads: 2, sequence: 8, keyDim: 8, valueDim: 6), seed: 10).v
        for (name, tensor) in [("c0", initial.c), ("n0", initial.n), ("m0", initial.m), ("dc", dc)] {
            try NPY.write(tensor, to: input + "/" + name + ".npy")
        }
        result = try Self.tfla(["grad", "--in", input, "--out", output, "--chunk-size", "8", "--state-stride", "2",
                                "--threads", "3", "--repeat", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").last?.hasPrefix("kernel_seconds=") == true)
        let dFinalState = MLSTMState(c: dc, n: Tensor(shape: [2, 2, 8]), m: Tensor(shape: [2, 2, 1]))
        let chunkwise = try Chunkwise.gradients(
            x, gate: .exponential, initialState: initial, dh: dh, dFinalState: dFinalState,
            stateStride: 2, options: ChunkwiseOptions(chunkSize: 8, threads: 3)).gradients
        for (name, tensor) in [("dq", chunkwise.dq), ("dk", chunkwise.dk), ("dv", chunkwise.dv), ("di", chunkwise.di),
                               ("df", chunkwise.df), ("dc0", chunkwise.dInitialState.c), ("dn0", chunkwise.dInitialState.n), ("dm0", chunkwise.dInitialState.m)] {
            #expect(try NPY.read(contentsOf: output + "/" + name + ".npy", as: Double.self) == tensor, "\(name)")
        }

        // The recurrent form: the same gradient up to rounding.
        result = try Self.tfla(["grad", "--kernel", "recurrent", "--in", input, "--out", output])
        #expect(result.status == 0, "\(result.stderr)")
        let recurrent = try Reference.recurrentBackward(x, gate: .exponential, initialState: initial, dh: dh, dFinalState: dFinalState)
        #expect(try NPY.read(contentsOf: output + "/dq.npy", as: Double.self) == recurrent.dq)
        #expect(relativeError(recurrent.dq, chunkwise.dq) <= 1e-10)
    }

    /// --gate sig: (c0, n0) is the whole state; m.npy and dm0.npy come back
    /// as zeros; a nonzero m0 is refused by name.
    @Test func sigmoidStateRoundTrip() throws {
        let (input, output, second) = (try Self.temporaryDirectory(), try Self.temporaryDirectory(), try Self.temporaryDirectory())
        defer { for d in [input, output, second] { try? FileManager.default.removeItem(atPath: d) } }
        let gate = Gate.sigmoid(normalize: true)
        let x = MLSTMInputs<Double>.random(Self.shape, gates: .extreme, seed: 12)
        let first = try x.sequenceSlice(0..<20), rest = try x.sequenceSlice(20..<37)
        try Self.writeInputs(first, to: input)
        var result = try Self.tfla(["run", "--gate", "sig", "--in", input, "--out", output, "--chunk-size", "8"])
        #expect(result.status == 0, "\(result.stderr)")
        let m = try NPY.read(contentsOf: output + "/m.npy", as: Double.self)
        #expect(m.shape == [2, 2, 1] && m.scalars.allSatisfy { $0 == 0 })
        // The second part from (c, n) only.
        try Self.writeInputs(rest, to: second)
        for name in ["c", "n"] {
            try FileManager.default.copyItem(atPath: output + "/\(name).npy", toPath: second + "/\(name)0.npy")
        }
        result = try Self.tfla(["run", "--gate", "sig", "--in", second, "--out", second + "/out", "--chunk-size", "8"])
        #expect(result.status == 0, "\(result.stderr)")
        let whole = try Chunkwise.forward(x, gate: gate, options: ChunkwiseOptions(chunkSize: 8))
        let h = try NPY.read(contentsOf: second + "/out/h.npy", as: Double.self)
        #expect(relativeError(h, try whole.h.slicing(axis: 2, 20..<37)) <= 1e-12)
        #expect(relativeError(try NPY.read(contentsOf: second + "/out/c.npy", as: Double.self), whole.state.c) <= 1e-12)
        #expect(try NPY.read(contentsOf: second + "/out/m.npy", as: Double.self).scalars.allSatisfy { $0 == 0 })

        // Gradients from (c0, n0): as the library's, dm0 written as zeros.
        let dh = MLSTMInputs<Double>.random(ProblemShape(batch: 2, heads: 2, sequence: 17, keyDim: 8, valueDim: 6), seed: 13).v
        try NPY.write(dh, to: second + "/dh.npy")
        result = try Self.tfla(["grad", "--gate", "sig", "--in", second, "--out", second + "/grad", "--chunk-size", "8"])
        #expect(result.status == 0, "\(result.stderr)")
        let initial = MLSTMState(c: try NPY.read(contentsOf: second + "/c0.npy", as: Double.self),
                                 n: try NPY.read(contentsOf: second + "/n0.npy", as: Double.self))
        let g = try Chunkwise.gradients(rest, gate: gate, initialState: initial, dh: dh,
                                        stateStride: 1, options: ChunkwiseOptions(chunkSize: 8)).gradients
        #expect(try NPY.read(contentsOf: second + "/grad/dk.npy", as: Double.self) == g.dk)
        #expect(try NPY.read(contentsOf: second + "/grad/dn0.npy", as: Double.self) == g.dInitialState.n)
        let dm0 = try NPY.read(contentsOf: second + "/grad/dm0.npy", as: Double.self)
        #expect(dm0.shape == [2, 2, 1] && dm0.scalars.allSatisfy { $0 == 0 })

        // A zero m0 is accepted, a nonzero one refused; exp still needs m0.
        try NPY.write(Tensor<Double>(shape: [2, 2, 1]), to: second + "/m0.npy")
        result = try Self.tfla(["run", "--gate", "sig", "--in", second, "--out", second + "/out2", "--chunk-size", "8"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try NPY.read(contentsOf: second + "/out2/h.npy", as: Double.self) == h)
        try NPY.write(Tensor<Double>(shape: [2, 2, 1], repeating: 0.25), to: second + "/m0.npy")
        for command in ["run", "grad"] {
            result = try Self.tfla([command, "--gate", "sig", "--in", second, "--out", second + "/bad"])
            #expect(result.status == 2 && result.stderr.contains("m0 = nonzero"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(!FileManager.default.fileExists(atPath: second + "/bad/h.npy"))
        try FileManager.default.removeItem(atPath: second + "/m0.npy")
        result = try Self.tfla(["run", "--gate", "exp", "--in", second, "--out", second + "/bad"])
        #expect(result.status == 2 && result.stderr.contains("m0 missing"), "\(result.stderr)")
    }

    /// Every error: exit status 2, one line on stderr naming the culprit,
    /// and no output file written.
    @Test func errorsAreOneLineAndWriteNothing() throws {
        let (input, output) = (try Self.temporaryDirectory(), try Self.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 6)
        try Self.writeInputs(x, to: input)

        func expectFailure(_ arguments: [String], mentioning text: String) throws {
            let result = try Self.tfla(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains(text), "\(result.stderr)")
            let written = (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
            #expect(written.isEmpty, "\(written)")
        }

        // An initial state with a part missing.
        try NPY.write(MLSTMState<Double>(zerosFor: Self.shape).c, to: input + "/c0.npy")
        try expectFailure(["run", "--in", input, "--out", output], mentioning: "n0, m0 missing")
        // The parallel form takes no initial state.
        try expectFailure(["run", "--kernel", "parallel", "--in", input, "--out", output], mentioning: "c0.npy")
        try FileManager.default.removeItem(atPath: input + "/c0.npy")
        // Inconsistent shapes.
        try NPY.write(Tensor<Double>(shape: [2, 2, 36]), to: input + "/f.npy")
        try expectFailure(["run", "--in", input, "--out", output], mentioning: "f: expected shape [2, 2, 37], got [2, 2, 36]")
        // Mixed dtypes without --dtype.
        try NPY.write(x.f.converted(to: Float.self), to: input + "/f.npy")
        try expectFailure(["run", "--in", input, "--out", output], mentioning: "f.npy: dtype float32")
        // A file that is not .npy.
        try Data("not an array".utf8).write(to: URL(fileURLWithPath: input + "/f.npy"))
        try expectFailure(["run", "--in", input, "--out", output], mentioning: "f.npy: not a .npy file")
        // A missing file, bad options.
        try FileManager.default.removeItem(atPath: input + "/f.npy")
        try expectFailure(["run", "--in", input, "--out", output], mentioning: "f.npy: missing input file")
        try NPY.write(x.f, to: input + "/f.npy")
        try expectFailure(["run", "--in", input, "--out", output, "--chunk-size", "0"], mentioning: "chunkSize = 0")
        try expectFailure(["run", "--in", input, "--out", output, "--eps=-1"], mentioning: "eps")
        try expectFailure(["run", "--in", input, "--out", output, "--no-normalize"], mentioning: "--no-normalize")
        try expectFailure(["run", "--in", input, "--out", output, "--repeat", "0"], mentioning: "--repeat")
        try expectFailure(["step", "--in", input, "--out", output], mentioning: "q: expected 3 dimensions (B,NH,DQK)")
        try expectFailure(["grad", "--in", input, "--out", output], mentioning: "dh.npy: missing input file")
        try NPY.write(x.v, to: input + "/dh.npy")
        try expectFailure(["grad", "--kernel", "recurrent", "--mode", "reference", "--in", input, "--out", output],
                          mentioning: "--mode exact only")
        try expectFailure(["grad", "--in", input, "--out", output, "--state-stride", "0"], mentioning: "stateStride = 0")
        try NPY.write(Tensor<Double>(shape: [2, 2, 8]), to: input + "/dn.npy")
        try expectFailure(["grad", "--kernel", "parallel", "--in", input, "--out", output], mentioning: "dn.npy")
        try NPY.write(Tensor<Double>(shape: [2, 2, 7]), to: input + "/dn.npy")
        try expectFailure(["grad", "--in", input, "--out", output], mentioning: "dn: expected shape [2, 2, 8], got [2, 2, 7]")
        try FileManager.default.removeItem(atPath: input + "/dn.npy")
        // Usage errors are one line too (exit status 64, as ArgumentParser's).
        let usage = try Self.tfla(["run", "--kernel", "sig", "--in", input, "--out", output])
        #expect(usage.status == 64)
        #expect(usage.stderr.split(separator: "\n").count == 1 && usage.stderr.contains("--kernel"), "\(usage.stderr)")
    }

    @Test func layerDemoRunsWithFlatMemory() throws {
        let result = try Self.tfla(["layer-demo", "--tokens", "600", "--block", "128", "--model", "64",
                                    "--heads", "2", "--dqk", "8", "--dhv", "16", "--generate", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("prefill: 600 tokens"))
        #expect(result.stdout.contains("generate: 3 tokens"))
        let bad = try Self.tfla(["layer-demo", "--block", "0"])
        #expect(bad.status == 2)
    }

    @Test func compareReportsAndSetsTheExitStatus() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let a = try Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = try Tensor<Double>(shape: [2, 3], scalars: [1, 2, 3, 4, 5.5, 6])
        try NPY.write(a, to: directory + "/a.npy")
        try NPY.write(b, to: directory + "/b.npy")
        try NPY.write(Tensor<Double>(shape: [3, 2]), to: directory + "/c.npy")
        let same = try Self.tfla(["compare", directory + "/a.npy", directory + "/a.npy"])
        #expect(same.status == 0)
        let differ = try Self.tfla(["compare", directory + "/a.npy", directory + "/b.npy"])
        #expect(differ.status == 1)
        #expect(differ.stdout.contains("max_abs_error=0.5"))
        #expect(differ.stdout.contains("worst_index=[1, 1]"))
        let loose = try Self.tfla(["compare", directory + "/a.npy", directory + "/b.npy", "--rtol", "0.1"])
        #expect(loose.status == 0)
        let mismatched = try Self.tfla(["compare", directory + "/a.npy", directory + "/c.npy"])
        #expect(mismatched.status == 2)
        let missing = try Self.tfla(["compare", directory + "/a.npy", directory + "/none.npy"])
        #expect(missing.status == 2)
    }
}
