import Testing
import TFLA

/// `tfla plan` prints the library's plan; `tfla info` the default problem's.
@Suite("tfla plan")
struct PlanCommandTests {
    @Test("Prints the plan the library computes")
    func printsThePlan() throws {
        for call in ChunkwiseCall.allCases {
            let result = try CLITests.tfla(["plan", "--shape", "1,8,8192,256,512", "--parallelism", "64",
                                            "--call", call.rawValue, "--gate", "sig", "--chunk-size", "128"])
            #expect(result.status == 0, "\(result.stderr)")
            var options = ChunkwiseOptions(chunkSize: 128, parallelism: 64)
            options.threads = nil
            let plan = try Chunkwise.plan(for: ProblemShape(batch: 1, heads: 8, sequence: 8192, keyDim: 256, valueDim: 512),
                                          gate: .sigmoid(normalize: true), call: call, options: options)
            #expect(result.stdout == plan.description + "\n")
        }
    }

    @Test("bf16 products: the plan for the packed chunk walk where AMX is, refused for training")
    func bf16Plans() throws {
        let result = try CLITests.tfla(["plan", "--shape", "1,8,8192,256,512", "--parallelism", "16", "--precision", "bf16"])
        #expect(result.status == 0, "\(result.stderr)")
        // With AMX: 16 items of 256 columns, no shared scores; elsewhere
        // the float32 plan (64-column tiles sharing their scores).
        #expect(result.stdout.contains(BF16Products.hasMatrixUnits ? "2 tiles of 256" : "8 tiles of 64"), "\(result.stdout)")
        #expect(result.stdout.contains("scores shared") == !BF16Products.hasMatrixUnits)
        let training = try CLITests.tfla(["plan", "--shape", "1,8,8192,256,512", "--precision", "bf16", "--call", "training"])
        #expect(training.status != 0)
        #expect(training.stderr.contains("inference forward only"), "\(training.stderr)")
    }

    @Test("Refuses malformed shapes and counts")
    func refusesMalformedInput() throws {
        for arguments in [["--shape", "1,8,8192,256"], ["--shape", "1,8,x,256,512"], ["--shape", "1,0,64,8,8"],
                          ["--shape", "1,1,64,8,8", "--parallelism", "0"], ["--shape", "1,1,64,8,8", "--call", "sideways"]] {
            let result = try CLITests.tfla(["plan"] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.hasPrefix("tfla: error:"), "\(arguments): \(result.stderr)")
        }
    }

    @Test("tfla info prints the default problem's plan")
    func infoPrintsThePlan() throws {
        let result = try CLITests.tfla(["info"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("chunkwise plan: inference forward, exp gate"))
        #expect(result.stdout.contains("B=1 NH=8 S=8192 DQK=256 DHV=512"))
        #expect(result.stdout.contains("segment walks"))
    }
}
