import ArgumentParser
import TFLA

/// The chunkwise forward's product precision (`ChunkwiseOptions.precision`).
enum PrecisionChoice: String, ExpressibleByArgument, CaseIterable {
    case float32, bf16
}

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a forward kernel on .npy inputs and write h and the final state.",
        discussion: """
        Reads q, k (B,NH,S,DQK), v (B,NH,S,DHV), i, f (B,NH,S) and, if present, \
        c0 (B,NH,DQK,DHV), n0 (B,NH,DQK), m0 (B,NH,1) from --in. Writes h.npy and, \
        for chunkwise and recurrent, the final state c.npy, n.npy, m.npy to --out \
        (m is all zeros for --gate sig). For --gate sig the state is c0 and n0: m0 may be \
        left out and must be all zeros if given. The parallel kernel takes no initial state.
        """)

    @Option(help: "Kernel: chunkwise (TFLA), parallel or recurrent (references).") var kernel: KernelChoice = .chunkwise
    @OptionGroup var gateOptions: GateOptions
    @OptionGroup var io: IOOptions
    @OptionGroup var tiling: TilingOptions
    @Option(help: "Chunkwise: precision of the products, float32 or bf16 (bfloat16 operands, float32 accumulation; float32 inputs).")
    var precision: PrecisionChoice = .float32
    @Option(help: "Chunkwise and recurrent: segment summaries (`tfla summary` directories, comma-separated, in sequence order) composed onto the initial state (or zeros) before the run: the run is then the piece after those segments.")
    var afterSummaries: String?

    func run() throws {
        try reportingFailures {
            try io.validateRepeats()
            let gate = try gateOptions.resolved()
            let directory = try ArrayDirectory(path: io.input)
            let headers = try InputHeaders(directory, required: ["q", "k", "v", "i", "f"], optional: ["c0", "n0", "m0"])
            if kernel == .parallel, let first = headers.optional.first {
                throw CommandFailure("--kernel parallel takes no initial state, but \(directory.file(first.0)) exists")
            }
            if afterSummaries != nil, kernel == .parallel {
                throw CommandFailure("--after-summaries: --kernel parallel takes no initial state")
            }
            if precision == .bf16, kernel != .chunkwise {
                throw CommandFailure("--precision bf16 is for --kernel chunkwise only")
            }
            var options = tiling.options()
            options.precision = precision == .bf16 ? .bf16Products : .inputType
            let dtype = try headers.computeDType(requested: io.dtype)
            let work: KernelWork = switch kernel {
            case .chunkwise: .chunkwise(options)
            case .parallel: .parallel
            case .recurrent: .recurrent
            }
            try headers.requireMemory(dtype: dtype, work: { shape, size in shape.forwardRunBytes(work, scalar: size) }, command: "run")
            let (inputs, state) = try headers.read()
            switch dtype {
            case .float32: try compute(Float.self, inputs, state, gate: gate, options: options)
            case .float64: try compute(Double.self, inputs, state, gate: gate, options: options)
            }
        }
    }

    private func compute<S: KernelScalar>(
        _: S.Type, _ inputs: [(String, NPYArray)], _ stateArrays: [(String, NPYArray)],
        gate: Gate, options: ChunkwiseOptions
    ) throws {
        let x = inputs.map { $0.1.tensor(as: S.self) }
        let mlstm = MLSTMInputs(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4])
        let parts = Dictionary(uniqueKeysWithValues: stateArrays.map { ($0.0, $0.1.tensor(as: S.self)) })
        var initial = try MLSTMState(c: parts["c0"], n: parts["n0"], m: parts["m0"], gate: gate)
        if let afterSummaries {
            let summaries = try SegmentPaths.split(afterSummaries, option: "--after-summaries").map { path throws in
                try SegmentSummary<S>.load(from: path)
            }
            if let mismatch = summaries.first(where: { $0.gate != gate }) {
                throw CommandFailure("--after-summaries: a summary of gate \(mismatch.gate) for a run with gate \(gate)")
            }
            initial = try SegmentPaths.compose(summaries, after: initial)
        }
        let eps = try gateOptions.eps(as: S.self)
        var output = try OutputSet(io.output)
        switch kernel {
        case .parallel:
            let h = try timed(repeats: io.repeats) { try Reference.parallel(mlstm, gate: gate, eps: eps) }
            output.add(h, as: "h")
        case .recurrent:
            let result = try timed(repeats: io.repeats) {
                try Reference.recurrent(mlstm, gate: gate, initialState: initial, eps: eps)
            }
            add(result.h, result.state, to: &output)
        case .chunkwise:
            let result = try timed(repeats: io.repeats) {
                try Chunkwise.forward(mlstm, gate: gate, initialState: initial, eps: eps, options: options)
            }
            add(result.h, result.state, to: &output)
        }
        try output.commit()
    }

    private func add<S: TensorScalar>(_ h: Tensor<S>, _ state: MLSTMState<S>, to output: inout OutputSet) {
        output.add(h, as: "h")
        output.add(state.c, as: "c")
        output.add(state.n, as: "n")
        output.add(state.m, as: "m")
    }
}
