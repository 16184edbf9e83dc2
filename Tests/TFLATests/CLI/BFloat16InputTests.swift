import Foundation
import Testing
import TFLA
import TFLATestSupport

/// `tfla run` on bfloat16 inputs as PyTorch and JAX suites save them: with
/// ml_dtypes (`<V2`), or as bits in uint16/int16 with `--bf16-bits`.
@Suite("tfla run: bfloat16 inputs")
struct BFloat16InputTests {
    typealias CLI = CLITests

    /// Writes `tensor` as `np.save` writes an `ml_dtypes.bfloat16` array
    /// (`<V2`), or its bits viewed as uint16 (`<u2`) or int16 (`<i2`).
    static func writeNumpy(_ tensor: Tensor<BFloat16>, to path: String, descriptor: String = "<V2") throws {
        let bits = tensor.scalars.map(\.bitPattern)
        try NPYBFloat16Tests.numpyFile(descriptor: descriptor, shape: tensor.shape, payload: NPYBFloat16Tests.payload(bits))
            .write(to: URL(fileURLWithPath: path))
    }

    /// Float inputs rounded to bfloat16, and those values widened back to
    /// float32 (exact): what the command reads and what it must compute on.
    static func problem(seed: UInt64) -> (stored: MLSTMInputs<BFloat16>, widened: MLSTMInputs<Float>) {
        let x = MLSTMInputs<Float>.random(CLI.shape, seed: seed)
        let stored = x.converted(to: BFloat16.self)
        let widened = stored.converted(to: Float.self)
        return (stored, widened)
    }

    static func write(_ x: MLSTMInputs<BFloat16>, to directory: String, names: [String] = ["q", "k", "v", "i", "f"],
                      descriptor: (String) -> String = { _ in "<V2" }) throws {
        for (name, tensor) in [("q", x.q), ("k", x.k), ("v", x.v), ("i", x.i), ("f", x.f)] where names.contains(name) {
            try writeNumpy(tensor, to: directory + "/" + name + ".npy", descriptor: descriptor(name))
        }
    }

    /// h in bfloat16 within bfloat16's rounding of the float32 forward on
    /// the widened inputs; the state in float32, as that forward's.
    @Test func runMatchesTheFloat32ForwardOnWidenedInputs() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let (stored, widened) = Self.problem(seed: 31)
        try Self.write(stored, to: input)
        // A float32 initial state (the state of a bfloat16 run is float32).
        let initial = try Reference.recurrent(try widened.sequenceSlice(0..<5), gate: .exponential).state
        for (name, tensor) in [("c0", initial.c), ("n0", initial.n), ("m0", initial.m)] {
            try NPY.write(tensor, to: input + "/" + name + ".npy")
        }
        let result = try CLI.tfla(["run", "--in", input, "--out", output, "--chunk-size", "8"])
        #expect(result.status == 0, "\(result.stderr)")
        let expected = try Chunkwise.forward(widened, gate: .exponential, initialState: initial,
                                             options: ChunkwiseOptions(chunkSize: 8))
        let h = try NPY.read(contentsOf: output + "/h.npy", as: BFloat16.self)
        #expect(maxMagnitude(expected.h) > 0.1)
        #expect(relativeError(h, expected.h) <= 1e-2, "\(relativeError(h, expected.h))")
        for (name, reference) in [("c", expected.state.c), ("n", expected.state.n), ("m", expected.state.m)] {
            let value = try NPY.read(contentsOf: output + "/\(name).npy", as: Float.self)
            #expect(relativeError(value, reference) <= 1e-5, "\(name): \(relativeError(value, reference))")
        }

        // h in float32 on request: the forward's h itself, not its rounding.
        let float32 = try CLI.tfla(["run", "--in", input, "--out", output, "--chunk-size", "8", "--h-dtype", "float32"])
        #expect(float32.status == 0, "\(float32.stderr)")
        let wide = try NPY.read(contentsOf: output + "/h.npy", as: Float.self)
        #expect(relativeError(wide, expected.h) <= 1e-5, "\(relativeError(wide, expected.h))")

        // The reference kernels take them too (h in bfloat16 by default).
        let recurrent = try CLI.tfla(["run", "--kernel", "recurrent", "--in", input, "--out", output])
        #expect(recurrent.status == 0, "\(recurrent.stderr)")
        let reference = try Reference.recurrent(widened, gate: .exponential, initialState: initial)
        let h2 = try NPY.read(contentsOf: output + "/h.npy", as: BFloat16.self)
        #expect(relativeError(h2, reference.h) <= 1e-2, "\(relativeError(h2, reference.h))")
    }

    /// q, k, v in bfloat16 with float32 gates: the gates are used as given,
    /// not rounded to bfloat16.
    @Test func float32GatesAreNotRounded() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let (stored, widened) = Self.problem(seed: 32)
        let gates = MLSTMInputs<Float>.random(CLI.shape, seed: 33)
        try Self.write(stored, to: input, names: ["q", "k", "v"])
        try NPY.write(gates.i, to: input + "/i.npy")
        try NPY.write(gates.f, to: input + "/f.npy")
        let exact = try Chunkwise.forward(MLSTMInputs(q: widened.q, k: widened.k, v: widened.v, i: gates.i, f: gates.f),
                                          gate: .exponential)
        let rounded = try Chunkwise.forward(MLSTMInputs(q: widened.q, k: widened.k, v: widened.v,
                                                        i: gates.i.converted(to: BFloat16.self).converted(),
                                                        f: gates.f.converted(to: BFloat16.self).converted()),
                                            gate: .exponential)
        // Rounding the gates would show at float32 precision.
        #expect(relativeError(rounded.h, exact.h) > 1e-4, "\(relativeError(rounded.h, exact.h))")

        var result = try CLI.tfla(["run", "--in", input, "--out", output, "--h-dtype", "float32"])
        #expect(result.status == 0, "\(result.stderr)")
        let h = try NPY.read(contentsOf: output + "/h.npy", as: Float.self)
        #expect(relativeError(h, exact.h) <= 1e-5, "\(relativeError(h, exact.h))")

        result = try CLI.tfla(["run", "--in", input, "--out", output])
        #expect(result.status == 0, "\(result.stderr)")
        let h16 = try NPY.read(contentsOf: output + "/h.npy", as: BFloat16.self)
        #expect(relativeError(h16, exact.h) <= 1e-2, "\(relativeError(h16, exact.h))")
        #expect(try NPY.read(contentsOf: output + "/c.npy").dtypeName == "float32")
    }

    /// Bits saved as uint16 (q, k, v) and int16 (i, f): refused with the
    /// flag to pass, then read as the same values as the ml_dtypes files.
    @Test func integerBitsNeedTheFlag() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (stored, _) = Self.problem(seed: 34)
        try FileManager.default.createDirectory(atPath: root + "/void", withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: root + "/bits", withIntermediateDirectories: false)
        try Self.write(stored, to: root + "/void")
        try Self.write(stored, to: root + "/bits", descriptor: { ["i", "f"].contains($0) ? "<i2" : "<u2" })

        let refused = try CLI.tfla(["run", "--in", root + "/bits", "--out", root + "/out-bits"])
        CLIRobustnessTests.expectOneLineFailure(refused, mentioning: "q.npy: dtype '<u2' (uint16)")
        #expect(refused.stderr.contains("pass --bf16-bits"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/out-bits"))

        #expect(try CLI.tfla(["run", "--in", root + "/void", "--out", root + "/out-void"]).status == 0)
        let result = try CLI.tfla(["run", "--in", root + "/bits", "--out", root + "/out-bits", "--bf16-bits"])
        #expect(result.status == 0, "\(result.stderr)")
        for name in ["h", "c", "n", "m"] {
            let (a, b) = (try NPY.read(contentsOf: root + "/out-bits/\(name).npy"), try NPY.read(contentsOf: root + "/out-void/\(name).npy"))
            #expect(a.dtypeName == b.dtypeName && a.tensor(as: Double.self) == b.tensor(as: Double.self), "\(name)")
        }

        // tfla compare reads them the same way.
        let compare = try CLI.tfla(["compare", root + "/bits/q.npy", root + "/void/q.npy"])
        CLIRobustnessTests.expectOneLineFailure(compare, mentioning: "pass --bf16-bits")
        let same = try CLI.tfla(["compare", root + "/bits/q.npy", root + "/void/q.npy", "--bf16-bits", "--rtol", "0", "--atol", "0"])
        #expect(same.status == 0, "\(same.stdout)\(same.stderr)")
    }

    @Test func refusals() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let (stored, widened) = Self.problem(seed: 35)
        try Self.write(stored, to: input)

        // A file shorter than its header announces.
        let bits = stored.v.scalars.map(\.bitPattern)
        try NPYBFloat16Tests.numpyFile(descriptor: "<V2", shape: stored.v.shape, payload: NPYBFloat16Tests.payload(bits).dropLast())
            .write(to: URL(fileURLWithPath: input + "/v.npy"))
        CLIRobustnessTests.expectOneLineFailure(try CLI.tfla(["run", "--in", input, "--out", output]),
                                                mentioning: "v.npy: truncated: header announces \(2 * bits.count) data bytes, file has \(2 * bits.count - 1)")
        try Self.write(stored, to: input, names: ["v"])

        // k one token short of q.
        try Self.writeNumpy(try stored.k.slicing(axis: 2, 0..<36), to: input + "/k.npy")
        let shapes = try CLI.tfla(["run", "--in", input, "--out", output])
        CLIRobustnessTests.expectOneLineFailure(shapes, mentioning: "k")
        #expect(shapes.stderr.contains("[2, 2, 36, 8]"), "\(shapes.stderr)")
        try Self.write(stored, to: input, names: ["k"])

        // bfloat16 mixes with float32 only: a float64 gate needs --dtype.
        try NPY.write(widened.f.converted(to: Double.self), to: input + "/f.npy")
        CLIRobustnessTests.expectOneLineFailure(try CLI.tfla(["run", "--in", input, "--out", output]),
                                                mentioning: "f.npy: dtype float64 differs from \(input)/q.npy (bfloat16); pass --dtype")
        #expect(CLIRobustnessTests.entries(output).isEmpty)
        let float64 = try CLI.tfla(["run", "--in", input, "--out", output, "--dtype", "float64"])
        #expect(float64.status == 0, "\(float64.stderr)")
        #expect(try NPY.read(contentsOf: output + "/h.npy").dtypeName == "float64")
    }

    /// The memory check counts a bfloat16 run's allocations: the 2-byte
    /// inputs as read, their float32 copies, the float32 forward and h
    /// rounded to bfloat16.
    @Test func memoryCheckSizesBFloat16Runs() throws {
        let input = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: input) }
        let wide = 1 << 20
        let shapes = ["q": [1, 1, 1, wide], "k": [1, 1, 1, wide], "v": [1, 1, 1, wide], "i": [1, 1, 1], "f": [1, 1, 1]]
        for (name, shape) in shapes {
            try CLIAdversarialTests.writeSparse(input + "/\(name).npy", descriptor: "<V2", shape: shape, elementSize: 2)
        }
        let problem = ProblemShape(batch: 1, heads: 1, sequence: 1, keyDim: wide, valueDim: wide)
        var inputs: [[Int]] = shapes.values.flatMap { [$0 + [2], $0 + [4]] }
        inputs.append([2 * wide])
        let forward = problem.forwardRunBytes(.chunkwise(.default), scalar: 4)
        for (arguments, h) in [([String](), [[1, 1, 1, wide, 2]]), (["--h-dtype", "float32"], [])] {
            let bytes = try MemoryBudget.total(inputs + forward + h, what: "")
            let result = try CLI.tfla(["run", "--in", input, "--out", input + "/out"] + arguments)
            CLIRobustnessTests.expectOneLineFailure(result, mentioning: "converted to float32")
            #expect(result.stderr.contains("needs \(bytes) bytes"), "\(arguments): \(bytes): \(result.stderr)")
        }
    }

    /// grad (and the other commands) compute bfloat16 inputs in float32:
    /// the same as on the widened float32 files.
    @Test func gradReadsBFloat16() throws {
        let root = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (stored, widened) = Self.problem(seed: 36)
        let dh = MLSTMInputs<Float>.random(CLI.shape, seed: 37).v
        for directory in ["bf16", "f32"] {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: false)
            try NPY.write(dh, to: root + "/\(directory)/dh.npy")
        }
        try Self.write(stored, to: root + "/bf16")
        try CLI.writeInputs(widened, to: root + "/f32")
        for directory in ["bf16", "f32"] {
            let result = try CLI.tfla(["grad", "--in", root + "/" + directory, "--out", root + "/out-" + directory])
            #expect(result.status == 0, "\(result.stderr)")
        }
        for name in ["dq", "dk", "dv", "di", "df"] {
            let a = try NPY.read(contentsOf: root + "/out-bf16/\(name).npy", as: Float.self)
            #expect(a == (try NPY.read(contentsOf: root + "/out-f32/\(name).npy", as: Float.self)), "\(name)")
        }
    }
}
