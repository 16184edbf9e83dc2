import Foundation
import Testing
import TFLA
import TFLATestSupport

/// `tfla summary`, `tfla compose` and `tfla run --after-summaries`: a
/// sequence split into three pieces (the middle one a single token) run
/// piece by piece from files equals the whole run.
@Suite("tfla summary and compose")
struct SegmentCommandTests {
    static let shape = ProblemShape(batch: 2, heads: 2, sequence: 29, keyDim: 4, valueDim: 6)
    static let cuts = [0, 11, 12, 29]

    static func write<S: TensorScalar>(_ arrays: [(String, Tensor<S>)], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, tensor) in arrays { try NPY.write(tensor, to: directory + "/" + name + ".npy") }
    }

    static func read(_ directory: String, _ name: String) throws -> Tensor<Double> {
        try NPY.read(contentsOf: directory + "/" + name + ".npy", as: Double.self)
    }

    static func inputs(_ x: MLSTMInputs<Double>) -> [(String, Tensor<Double>)] {
        [("q", x.q), ("k", x.k), ("v", x.v), ("i", x.i), ("f", x.f)]
    }

    static func expectSuccess(_ arguments: [String]) throws {
        let result = try CLITests.tfla(arguments)
        #expect(result.status == 0, "tfla \(arguments.joined(separator: " ")): \(result.stderr)")
    }

    @Test(arguments: ["exp", "sig"], [GateDistribution.realistic, .extreme])
    func threePiecesEqualTheWholeRun(gateName: String, gates: GateDistribution) throws {
        let root = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let gate: Gate = gateName == "exp" ? .exponential : .sigmoid(normalize: true)
        let x = MLSTMInputs<Double>.random(Self.shape, gates: gates, seed: 47)
        var before = Self.shape
        before.sequence = 5
        let initial = try Reference.recurrent(MLSTMInputs<Double>.random(before, gates: gates, seed: 48), gate: gate).state
        let state = gate.isStabilized ? [("c0", initial.c), ("n0", initial.n), ("m0", initial.m)]
                                      : [("c0", initial.c), ("n0", initial.n)]
        try Self.write(Self.inputs(x) + state, to: root + "/whole")
        try Self.write(state, to: root + "/initial")
        for piece in 0..<3 {
            let part = try x.sequenceSlice(Self.cuts[piece]..<Self.cuts[piece + 1])
            try Self.write(Self.inputs(part), to: root + "/piece\(piece)")
        }
        let g = ["--gate", gateName]
        try Self.expectSuccess(["run", "--in", root + "/whole", "--out", root + "/whole-out", "--chunk-size", "8"] + g)
        for piece in 0..<2 {
            try Self.expectSuccess(["summary", "--in", root + "/piece\(piece)", "--out", root + "/s\(piece)"] + g)
            for name in SegmentSummary<Double>.fileNames {
                #expect(FileManager.default.fileExists(atPath: root + "/s\(piece)/" + name), "\(name)")
            }
        }
        // The last piece: its incoming state composed into its directory.
        try Self.expectSuccess(["compose", "--summaries", root + "/s0," + root + "/s1", "--state", root + "/initial",
                                "--out", root + "/piece2"])
        try Self.expectSuccess(["run", "--in", root + "/piece2", "--out", root + "/out2", "--chunk-size", "4"] + g)
        // The middle piece (one token): the initial state in its directory, summary 0 composed onto it by run.
        try Self.write(state, to: root + "/piece1")
        try Self.expectSuccess(["run", "--in", root + "/piece1", "--after-summaries", root + "/s0", "--out", root + "/out1",
                                "--kernel", "recurrent"] + g)

        let whole = root + "/whole-out"
        let h = try Self.read(whole, "h")
        let h2 = try Self.read(root + "/out2", "h")
        #expect(relativeError(h2, try h.slicing(axis: 2, 12..<29)) <= 1e-12)
        #expect(relativeError(try Self.read(root + "/out1", "h"), try h.slicing(axis: 2, 11..<12)) <= 1e-12)
        for name in ["c", "n", "m"] {
            let reference = try Self.read(whole, name)
            let error = relativeError(try Self.read(root + "/out2", name), reference)
            #expect(error <= 1e-12 || (name == "m" && maxMagnitude(reference) == 0 && error == 0), "\(name): \(error)")
        }
        #expect(maxMagnitude(h2) > 0)
    }

    @Test func refusalsNameTheProblem() throws {
        let root = try CLITests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 3)
        let initial = MLSTMState<Double>(zerosFor: Self.shape)
        try Self.write(Self.inputs(x) + [("c0", initial.c), ("n0", initial.n)], to: root + "/in")
        var result = try CLITests.tfla(["summary", "--in", root + "/in", "--out", root + "/s"])
        #expect(result.status != 0 && result.stderr.contains("c0.npy") && result.stderr.contains("empty state"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: root + "/s"))
        result = try CLITests.tfla(["compose", "--summaries", root + "/missing,", "--out", root + "/c"])
        #expect(result.status != 0 && result.stderr.contains("--summaries"), "\(result.stderr)")
        try Self.write(Self.inputs(x), to: root + "/plain")
        try Self.expectSuccess(["summary", "--gate", "sig", "--in", root + "/plain", "--out", root + "/sig"])
        result = try CLITests.tfla(["run", "--in", root + "/plain", "--after-summaries", root + "/sig", "--out", root + "/o"])
        #expect(result.status != 0 && result.stderr.contains("--after-summaries"), "\(result.stderr)")
    }
}
