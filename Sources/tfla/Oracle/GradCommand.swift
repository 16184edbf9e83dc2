import ArgumentParser
import TFLA

struct GradCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grad",
        abstract: "Gradients of a forward kernel on .npy inputs.",
        discussion: """
        Reads the inputs of 'tfla run' plus dh.npy (B,NH,S,DHV) and, if present, dc.npy \
        (B,NH,DQK,DHV), dn.npy (B,NH,DQK), dm.npy (B,NH,1): upstream gradients of the final \
        state (missing ones are zeros). Writes dq, dk, dv, di, df and, when an initial state \
        was given, dc0, dn0, dm0. For --gate sig the initial state is c0 and n0 (m0 may be \
        left out, and must be all zeros if given) and dm0 is all zeros.

        --mode exact: the true gradient of the forward function (chunkwise, parallel, \
        recurrent). --mode reference: the convention of the reference package's custom \
        backward kernels (chunkwise--native_custbw, Triton; parallel--native_stablef_custbw): \
        the denominator and m are held constant, dn and dm are ignored, dn0 = dm0 = 0 \
        (chunkwise and parallel only). See Documentation.docc/BackwardPass.md.
        """)

    @Option(help: "Kernel: chunkwise (TFLA), parallel or recurrent (references).") var kernel: KernelChoice = .chunkwise
    @Option(help: "exact (the true gradient) or reference (the reference package's custom-backward convention).")
    var mode: GradientMode = .exact
    @OptionGroup var gateOptions: GateOptions
    @OptionGroup var io: IOOptions
    @OptionGroup var tiling: TilingOptions
    @Option(help: "Chunkwise: keep every N-th chunk state in the forward; the backward recomputes the others (default 4; chunk size default 128).")
    var stateStride: Int?

    func run() throws {
        try reportingFailures {
            try io.validateRepeats()
            if kernel == .recurrent, mode == .reference {
                throw CommandFailure("--kernel recurrent computes --mode exact only; the reference convention is that of the chunkwise and parallel kernels")
            }
            let gate = try gateOptions.resolved()
            let directory = try ArrayDirectory(path: io.input, bfloat16Bits: io.bfloat16Bits)
            let headers = try InputHeaders(directory, required: ["q", "k", "v", "i", "f", "dh"],
                                           optional: ["c0", "n0", "m0", "dc", "dn", "dm"])
            if kernel == .parallel, let first = headers.optional.first {
                throw CommandFailure("--kernel parallel has no initial or final state, but \(directory.file(first.0)) exists")
            }
            let options = tiling.options(training: true)
            let stride = stateStride ?? 4
            let dtype = try headers.computeDType(requested: io.dtype)
            let work: KernelWork = switch kernel {
            case .chunkwise: .chunkwise(options)
            case .parallel: .parallel
            case .recurrent: .recurrent
            }
            try headers.requireMemory(dtype: dtype, work: { shape, size in shape.gradientRunBytes(work, scalar: size, stateStride: stride) },
                                      command: "grad")
            let (inputs, optional) = try headers.read()
            switch dtype {
            case .float32: try compute(Float.self, inputs, optional, gate: gate, stateStride: stride, options: options)
            case .float64: try compute(Double.self, inputs, optional, gate: gate, stateStride: stride, options: options)
            }
        }
    }

    private func compute<S: KernelScalar>(
        _: S.Type, _ inputs: [(String, NPYArray)], _ optional: [(String, NPYArray)], gate: Gate, stateStride: Int,
        options: ChunkwiseOptions
    ) throws {
        let x = inputs.map { $0.1.tensor(as: S.self) }
        let mlstm = MLSTMInputs(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4])
        let dh = x[5]
        let parts = Dictionary(uniqueKeysWithValues: optional.map { ($0.0, $0.1.tensor(as: S.self)) })
        let initial = try MLSTMState(c: parts["c0"], n: parts["n0"], m: parts["m0"], gate: gate)
        var dFinalState: MLSTMState<S>?
        if parts["dc"] != nil || parts["dn"] != nil || parts["dm"] != nil {
            let shape = try mlstm.validatedShape()
            dFinalState = MLSTMState(c: parts["dc"] ?? Tensor(shape: shape.memoryShape), n: parts["dn"] ?? Tensor(shape: shape.normalizerShape),
                                     m: parts["dm"] ?? Tensor(shape: shape.stabilizerShape))
        }
        let eps = try gateOptions.eps(as: S.self)
        var output = try OutputSet(io.output)
        let g = try timed(repeats: io.repeats) { () throws -> MLSTMGradients<S> in
            switch kernel {
            case .recurrent:
                return try Reference.recurrentBackward(mlstm, gate: gate, initialState: initial, eps: eps, dh: dh,
                                                       dFinalState: dFinalState)
            case .parallel:
                return try Reference.parallelBackward(mlstm, gate: gate, eps: eps, dh: dh, mode: mode)
            case .chunkwise:
                return try Chunkwise.gradients(mlstm, gate: gate, initialState: initial, eps: eps, dh: dh,
                                               dFinalState: dFinalState, mode: mode, stateStride: stateStride,
                                               options: options).gradients
            }
        }
        for (name, tensor) in [("dq", g.dq), ("dk", g.dk), ("dv", g.dv), ("di", g.di), ("df", g.df)] {
            output.add(tensor, as: name)
        }
        if initial != nil {
            for (name, tensor) in [("dc0", g.dInitialState.c), ("dn0", g.dInitialState.n), ("dm0", g.dInitialState.m)] { output.add(tensor, as: name) }
        }
        try output.commit()
    }
}
