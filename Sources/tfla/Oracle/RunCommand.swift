import ArgumentParser
import TFLA

/// The chunkwise forward's product precision (`ChunkwiseOptions.precision`).
enum PrecisionChoice: String, ExpressibleByArgument, CaseIterable {
    case float32, bf16
}

/// The dtype of the h file `tfla run` writes.
enum OutputDTypeChoice: String, ExpressibleByArgument, CaseIterable {
    case bfloat16, float32, float64
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
        left out and must be all zeros if given. The parallel kernel takes no initial state. \
        bfloat16 inputs (ml_dtypes' <V2, or uint16/int16 bits with --bf16-bits) are computed \
        in float32, alone or mixed with float32 arrays (e.g. float32 gates or state); with q, \
        k and v in bfloat16, h is written in bfloat16 (--h-dtype) and the state in float32.
        """)

    @Option(help: "Kernel: chunkwise (TFLA), parallel or recurrent (references).") var kernel: KernelChoice = .chunkwise
    @OptionGroup var gateOptions: GateOptions
    @OptionGroup var io: IOOptions
    @OptionGroup var tiling: TilingOptions
    @Option(help: "Chunkwise: precision of the products, float32 or bf16 (bfloat16 operands, float32 accumulation; float32 inputs).")
    var precision: PrecisionChoice = .float32
    @Option(help: "Chunkwise and recurrent: segment summaries (`tfla summary` directories, comma-separated, in sequence order) composed onto the initial state (or zeros) before the run: the run is then the piece after those segments.")
    var afterSummaries: String?
    @Option(help: "The dtype of h.npy: bfloat16 (ml_dtypes' <V2), float32 or float64 (default: bfloat16 when q, k and v are bfloat16 and the computation is float32, otherwise the compute dtype). The state files stay in the compute dtype.")
    var hDtype: OutputDTypeChoice?

    func run() throws {
        try reportingFailures {
            try io.validateRepeats()
            let gate = try gateOptions.resolved()
            let directory = try ArrayDirectory(path: io.input, bfloat16Bits: io.bfloat16Bits)
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
            let hType = hDtype ?? (dtype == .float32 && headers.areBFloat16(["q", "k", "v"]) ? .bfloat16 : dtype.outputChoice)
            // bfloat16 inputs with a bfloat16 h: the library's entry for
            // bfloat16 storage. Mixed with float32 gates, the float32 entry
            // on the arrays as given (bfloat16 widens exactly; rounding the
            // gates to bfloat16 would change the problem).
            let stored = kernel == .chunkwise && dtype == .float32 && hType == .bfloat16
                && headers.areBFloat16(["q", "k", "v", "i", "f"])
            // h in another dtype than the computation's: its copy (the
            // bfloat16 entry rounds h to bfloat16 after the float32 forward).
            let hSize = hType.elementSize, computeSize = dtype == .float64 ? 8 : 4
            try headers.requireMemory(dtype: dtype, work: { shape, size in
                shape.forwardRunBytes(work, scalar: size)
                    + (hSize == computeSize ? [] : [[shape.batch, shape.heads, shape.sequence, shape.valueDim, hSize]])
            }, command: "run")
            let (inputs, state) = try headers.read()
            if stored {
                try computeStored(inputs, state, gate: gate, options: options)
                return
            }
            switch dtype {
            case .float32: try compute(Float.self, inputs, state, gate: gate, options: options, hType: hType)
            case .float64: try compute(Double.self, inputs, state, gate: gate, options: options, hType: hType)
            }
        }
    }

    private func compute<S: KernelScalar>(
        _: S.Type, _ inputs: [(String, NPYArray)], _ stateArrays: [(String, NPYArray)],
        gate: Gate, options: ChunkwiseOptions, hType: OutputDTypeChoice
    ) throws {
        let x = inputs.map { $0.1.tensor(as: S.self) }
        let mlstm = MLSTMInputs(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4])
        let initial = try initialState(S.self, stateArrays, gate: gate)
        let eps = try gateOptions.eps(as: S.self)
        var output = try OutputSet(io.output)
        switch kernel {
        case .parallel:
            let h = try timed(repeats: io.repeats) { try Reference.parallel(mlstm, gate: gate, eps: eps) }
            add(h, as: hType, to: &output)
        case .recurrent:
            let result = try timed(repeats: io.repeats) {
                try Reference.recurrent(mlstm, gate: gate, initialState: initial, eps: eps)
            }
            add(result.h, as: hType, to: &output)
            add(result.state, to: &output)
        case .chunkwise:
            let result = try timed(repeats: io.repeats) {
                try Chunkwise.forward(mlstm, gate: gate, initialState: initial, eps: eps, options: options)
            }
            add(result.h, as: hType, to: &output)
            add(result.state, to: &output)
        }
        try output.commit()
    }

    /// q, k, v, i, f in bfloat16 through ``Chunkwise/forward(storedAs:gate:initialState:eps:options:)``:
    /// h in bfloat16, the state in float32.
    private func computeStored(
        _ inputs: [(String, NPYArray)], _ stateArrays: [(String, NPYArray)], gate: Gate, options: ChunkwiseOptions
    ) throws {
        let x = inputs.map { $0.1.tensor(as: BFloat16.self) }
        let stored = MLSTMInputs(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4])
        let initial = try initialState(Float.self, stateArrays, gate: gate)
        let eps = try gateOptions.eps(as: Float.self)
        var output = try OutputSet(io.output)
        let result = try timed(repeats: io.repeats) {
            try Chunkwise.forward(storedAs: stored, gate: gate, initialState: initial, eps: eps, options: options)
        }
        output.add(result.h, as: "h")
        add(result.state, to: &output)
        try output.commit()
    }

    /// The initial state from c0, n0, m0 (nil when absent) in `S`, with
    /// the summaries of --after-summaries composed onto it.
    private func initialState<S: KernelScalar>(
        _: S.Type, _ stateArrays: [(String, NPYArray)], gate: Gate
    ) throws -> MLSTMState<S>? {
        let parts = Dictionary(uniqueKeysWithValues: stateArrays.map { ($0.0, $0.1.tensor(as: S.self)) })
        let initial = try MLSTMState(c: parts["c0"], n: parts["n0"], m: parts["m0"], gate: gate)
        guard let afterSummaries else { return initial }
        let summaries = try SegmentPaths.split(afterSummaries, option: "--after-summaries").map { path throws in
            try SegmentSummary<S>.load(from: path)
        }
        if let mismatch = summaries.first(where: { $0.gate != gate }) {
            throw CommandFailure("--after-summaries: a summary of gate \(mismatch.gate) for a run with gate \(gate)")
        }
        return try SegmentPaths.compose(summaries, after: initial)
    }

    /// h in the dtype of --h-dtype (rounded to it from the compute dtype).
    private func add<S: TensorScalar>(_ h: Tensor<S>, as type: OutputDTypeChoice, to output: inout OutputSet) {
        switch type {
        case .bfloat16: output.add(h as? Tensor<BFloat16> ?? h.converted(), as: "h")
        case .float32: output.add(h as? Tensor<Float> ?? h.converted(), as: "h")
        case .float64: output.add(h as? Tensor<Double> ?? h.converted(), as: "h")
        }
    }

    private func add<S: TensorScalar>(_ state: MLSTMState<S>, to output: inout OutputSet) {
        output.add(state.c, as: "c")
        output.add(state.n, as: "n")
        output.add(state.m, as: "m")
    }
}

extension OutputDTypeChoice {
    /// Bytes per element.
    var elementSize: Int {
        switch self {
        case .bfloat16: return 2
        case .float32: return 4
        case .float64: return 8
        }
    }
}

extension DTypeChoice {
    /// The h dtype that keeps the computation's values.
    var outputChoice: OutputDTypeChoice { self == .float64 ? .float64 : .float32 }
}
