import ArgumentParser
import TFLA

extension ChunkwiseCall: ExpressibleByArgument {}

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Print how a chunkwise call is cut into parallel work items.",
        discussion: """
        The plan decides how sums are split, and so the rounding of the result: calls \
        with equal plans give the same bits on any number of threads. It depends on \
        the shape, the call, the options and --parallelism (default: the cores \
        available), never on the thread count.
        """
    )

    @Option(help: "The problem: B,NH,S,DQK,DHV (e.g. 1,8,8192,256,512).") var shape: String
    @Option(help: "The call: inference, training, backward, packed or summary.") var call: ChunkwiseCall = .inference
    @Option(help: "Input gate: exp or sig.") var gate: GateChoice = .exp
    @Option(help: "The worker count the plan is made for (default: the cores available).") var parallelism: Int?
    @Option(help: "Tokens per chunk (default: 64; 128 for training and backward).") var chunkSize: Int?
    @Option(name: [.customLong("value-dim-tile"), .customLong("dhv-tile")], help: "Columns of C and h per work item (default: planned).")
    var valueDimTile: Int?
    @Option(help: "Sequence segments (default: planned).") var segments: Int?
    @Option(help: "Training and backward: keep every N-th chunk state.") var stateStride = 4
    @Option(help: "Packed calls: the number of sequences.") var sequences = 1
    @Option(help: "Inference and packed calls: precision of the products, float32 or bf16 (bf16 on a CPU with AMX plans for the packed chunk walk: columns at least 256 wide, one item per worker).")
    var precision: PrecisionChoice = .float32

    func run() throws {
        try reportingFailures {
            let sizes = shape.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            let dims = sizes.compactMap { $0 }
            guard sizes.count == 5, dims.count == 5 else {
                throw CommandFailure("--shape must be five integers B,NH,S,DQK,DHV, got '\(shape)'")
            }
            let problem = ProblemShape(batch: dims[0], heads: dims[1], sequence: dims[2], keyDim: dims[3], valueDim: dims[4])
            var options = call == .training || call == .backward ? ChunkwiseOptions.training : ChunkwiseOptions.default
            if let chunkSize { options.chunkSize = chunkSize }
            options.parallelism = parallelism
            options.valueDimTile = valueDimTile
            options.segments = segments
            options.precision = precision == .bf16 ? .bf16Products : .inputType
            let plan = try Chunkwise.plan(for: problem, gate: gate == .exp ? .exponential : .sigmoid(normalize: true),
                                          call: call, stateStride: stateStride, sequences: sequences, options: options)
            print(plan)
        }
    }
}
