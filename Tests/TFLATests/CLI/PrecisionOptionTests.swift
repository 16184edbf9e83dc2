import Foundation
import Testing
import TFLA
import TFLATestSupport

/// `tfla run --precision`: bf16 products for the chunkwise kernel, refused
/// elsewhere with one line.
@Suite("tfla run --precision")
struct PrecisionOptionTests {
    typealias CLI = CLITests

    @Test func bf16ProductsMatchTheLibrary() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        let x = MLSTMInputs<Float>.random(CLI.shape, seed: 17)
        try CLI.writeInputs(x, to: input)
        #expect(try CLI.tfla(["run", "--in", input, "--out", output, "--precision", "bf16"]).status == 0)
        var options = ChunkwiseOptions()
        options.precision = .bf16Products
        let expected = try Chunkwise.forward(x, gate: .exponential, options: options)
        #expect(try NPY.read(contentsOf: output + "/h.npy", as: Float.self) == expected.h)
        #expect(try NPY.read(contentsOf: output + "/c.npy", as: Float.self) == expected.state.c)
    }

    @Test func refusals() throws {
        let (input, output) = (try CLI.temporaryDirectory(), try CLI.temporaryDirectory())
        defer { for d in [input, output] { try? FileManager.default.removeItem(atPath: d) } }
        try CLI.writeInputs(MLSTMInputs<Float>.random(CLI.shape, seed: 18), to: input)
        CLIRobustnessTests.expectOneLineFailure(
            try CLI.tfla(["run", "--in", input, "--out", output, "--precision", "bf16", "--dtype", "float64"]),
            mentioning: "needs Float inputs")
        CLIRobustnessTests.expectOneLineFailure(
            try CLI.tfla(["run", "--in", input, "--out", output, "--precision", "bf16", "--kernel", "recurrent"]),
            mentioning: "--precision bf16 is for --kernel chunkwise only")
    }
}
