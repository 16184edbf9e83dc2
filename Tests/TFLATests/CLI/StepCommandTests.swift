import Foundation
import Testing
import TFLA
import TFLATestSupport

/// `tfla step`: the fused kernel (default) and the reference step, one token
/// or many (`--tokens`), against the library and against `tfla run`.
@Suite("tfla step")
struct StepCommandTests {
    static let shape = ProblemShape(batch: 2, heads: 3, sequence: 23, keyDim: 8, valueDim: 12)

    static func write<S: TensorScalar>(_ arrays: [(String, Tensor<S>)], to directory: String) throws {
        for (name, tensor) in arrays { try NPY.write(tensor, to: directory + "/" + name + ".npy") }
    }

    static func read(_ directory: String, _ name: String) throws -> Tensor<Double> {
        try NPY.read(contentsOf: directory + "/" + name + ".npy", as: Double.self)
    }

    /// Token t of a sequence as one step's inputs (B,NH,·).
    static func token<S: TensorScalar>(_ x: MLSTMInputs<S>, _ t: Int) throws -> [(String, Tensor<S>)] {
        let one = try x.sequenceSlice(t..<t + 1)
        let (b, nh) = (x.q.shape[0], x.q.shape[1])
        return [("q", try one.q.reshaped([b, nh, x.q.shape[3]])), ("k", try one.k.reshaped([b, nh, x.q.shape[3]])),
                ("v", try one.v.reshaped([b, nh, x.v.shape[3]])),
                ("i", try one.i.reshaped([b, nh, 1])), ("f", try one.f.reshaped([b, nh, 1]))]
    }

    /// One token: the fused kernel is InferenceState's (bit for bit) and
    /// agrees with the reference step; `--repeat` reports kernel_seconds.
    @Test(arguments: ["exp", "sig"])
    func oneTokenFusedAndReference(gateName: String) throws {
        let (input, output) = (try CLITests.temporaryDirectory(), try CLITests.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let gate: Gate = gateName == "exp" ? .exponential : .sigmoid(normalize: true)
        let x = MLSTMInputs<Double>.random(Self.shape, gates: .extreme, seed: 31)
        let state = try Reference.recurrent(try x.sequenceSlice(0..<22), gate: gate).state
        let token = try Self.token(x, 22)
        let parts = gate.isStabilized ? [("c0", state.c), ("n0", state.n), ("m0", state.m)] : [("c0", state.c), ("n0", state.n)]
        try Self.write(token + parts, to: input)

        let fused = try CLITests.tfla(["step", "--gate", gateName, "--in", input, "--out", output, "--threads", "2", "--repeat", "3"])
        #expect(fused.status == 0, "\(fused.stderr)")
        let lastLine = fused.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(lastLine.hasPrefix("kernel_seconds=") && Double(lastLine.dropFirst("kernel_seconds=".count)) != nil, "\(lastLine)")
        let inference = try InferenceState(state, gate: gate)
        inference.threads = 2
        let t = token.map(\.1)
        let h = try inference.step(q: t[0], k: t[1], v: t[2], i: t[3], f: t[4])
        #expect(try Self.read(output, "h") == h)
        #expect(try Self.read(output, "c") == inference.snapshot().c)
        #expect(try Self.read(output, "m") == inference.snapshot().m)

        let reference = try Reference.step(q: t[0], k: t[1], v: t[2], i: t[3], f: t[4], state: state, gate: gate)
        #expect(relativeError(try Self.read(output, "h"), reference.h) <= 1e-10)
        #expect(relativeError(try Self.read(output, "n"), reference.state.n) <= 1e-10)
        let viaReference = try CLITests.tfla(["step", "--kernel", "reference", "--gate", gateName, "--in", input, "--out", output])
        #expect(viaReference.status == 0, "\(viaReference.stderr)")
        #expect(try Self.read(output, "h") == reference.h)
        #expect(try Self.read(output, "c") == reference.state.c)
        #expect(maxMagnitude(reference.h) > 1e-3)
    }

    /// S steps from a state equal the chunkwise forward over the S tokens
    /// (`tfla run`), float64, both kernels and both gates.
    @Test(arguments: ["exp", "sig"])
    func tokensMatchRun(gateName: String) throws {
        let (input, output, run) = (try CLITests.temporaryDirectory(), try CLITests.temporaryDirectory(), try CLITests.temporaryDirectory())
        defer { for d in [input, output, run] { try? FileManager.default.removeItem(atPath: d) } }
        let gate: Gate = gateName == "exp" ? .exponential : .sigmoid(normalize: true)
        let x = MLSTMInputs<Double>.random(Self.shape, gates: .extreme, seed: 32)
        let state = try Reference.recurrent(MLSTMInputs<Double>.random(Self.shape, seed: 33), gate: gate).state
        let parts = gate.isStabilized ? [("c0", state.c), ("n0", state.n), ("m0", state.m)] : [("c0", state.c), ("n0", state.n)]
        try CLITests.writeInputs(x, to: input)
        try Self.write(parts, to: input)
        let chunkwise = try CLITests.tfla(["run", "--gate", gateName, "--in", input, "--out", run, "--chunk-size", "8"])
        #expect(chunkwise.status == 0, "\(chunkwise.stderr)")
        for kernel in ["fused", "reference"] {
            let result = try CLITests.tfla(["step", "--tokens", "--kernel", kernel, "--gate", gateName, "--in", input, "--out", output])
            #expect(result.status == 0, "\(result.stderr)")
            let h = try Self.read(output, "h")
            #expect(h.shape == Self.shape.valueShape)
            for name in ["h", "c", "n", "m"] {
                #expect(relativeError(try Self.read(output, name), try Self.read(run, name)) <= 1e-10, "\(kernel) \(name)")
            }
            #expect(maxMagnitude(h) > 1e-3)
        }
        if !gate.isStabilized {
            #expect(try Self.read(output, "m").scalars.allSatisfy { $0 == 0 })
        }
    }

    /// float32 in, float32 out: S fused steps as InferenceState<Float>
    /// computes them, and close to the float64 chunkwise forward.
    @Test func tokensInFloat32() throws {
        let (input, output) = (try CLITests.temporaryDirectory(), try CLITests.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let x = MLSTMInputs<Float>.random(Self.shape, seed: 34)
        try CLITests.writeInputs(x, to: input)
        let result = try CLITests.tfla(["step", "--tokens", "--in", input, "--out", output, "--threads", "1", "--repeat", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").last?.hasPrefix("kernel_seconds=") == true)
        let h = try NPY.read(contentsOf: output + "/h.npy", as: Float.self)
        let inference = try InferenceState<Float>(batch: 2, heads: 3, keyDim: 8, valueDim: 12, gate: .exponential)
        inference.threads = 1
        let first = try Self.token(x, 0).map(\.1)
        let h0 = try inference.step(q: first[0], k: first[1], v: first[2], i: first[3], f: first[4])
        #expect(try h.slicing(axis: 2, 0..<1).reshaped([2, 3, 12]) == h0)
        let x64 = x.converted(to: Double.self)
        let exact = try Chunkwise.forward(x64, gate: .exponential)
        #expect(relativeError(h, exact.h) <= 1e-5)
        #expect(relativeError(try NPY.read(contentsOf: output + "/c.npy", as: Float.self), exact.state.c) <= 1e-5)
    }

    /// Errors: exit status 2, one line on stderr naming the culprit.
    @Test func errors() throws {
        let (input, output) = (try CLITests.temporaryDirectory(), try CLITests.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 35)
        try CLITests.writeInputs(x, to: input)
        func expectFailure(_ arguments: [String], mentioning text: String) throws {
            let result = try CLITests.tfla(["step", "--in", input, "--out", output] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(text), "\(result.stderr)")
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []).isEmpty)
        }
        try expectFailure([], mentioning: "q: expected 3 dimensions (B,NH,DQK), got shape [2, 3, 23, 8]")
        try expectFailure(["--tokens", "--threads", "0"], mentioning: "--threads must be at least 1")
        try expectFailure(["--tokens", "--kernel", "reference", "--threads", "2"], mentioning: "--kernel fused only")
        try expectFailure(["--tokens", "--repeat", "0"], mentioning: "--repeat")
        let zeros = MLSTMState<Double>(zerosFor: Self.shape)
        try Self.write([("c0", zeros.c), ("n0", zeros.n)], to: input)
        try expectFailure(["--tokens"], mentioning: "n0 given but m0 missing")
        try Self.write([("m0", Tensor<Double>(shape: [2, 3, 1], repeating: 1))], to: input)
        try expectFailure(["--tokens", "--gate", "sig"], mentioning: "m0 = nonzero")
        try FileManager.default.removeItem(atPath: input + "/m0.npy")
        try Self.write([("c0", Tensor<Double>(shape: [2, 3, 8, 11]))], to: input)
        try expectFailure(["--tokens", "--gate", "sig"], mentioning: "c0: expected shape [2, 3, 8, 12], got [2, 3, 8, 11]")
        try Self.write([("f", Tensor<Double>(shape: [2, 3, 22]))], to: input)
        try expectFailure(["--tokens", "--gate", "sig"], mentioning: "f: expected shape [2, 3, 23], got [2, 3, 22]")
    }
}
