import ArgumentParser
import TFLA

enum StepKernelChoice: String, ExpressibleByArgument, CaseIterable {
    case fused, reference
}

struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Generation steps on .npy inputs: h and the next state.",
        discussion: """
        Reads q, k (B,NH,DQK), v (B,NH,DHV), i, f (B,NH,1) and, if present, the state \
        c0 (B,NH,DQK,DHV), n0 (B,NH,DQK), m0 (B,NH,1) from --in (no state: zeros); writes \
        h.npy (B,NH,DHV) and the next state c.npy, n.npy, m.npy to --out. With --tokens the \
        inputs are those of 'tfla run', q, k (B,NH,S,DQK), v (B,NH,S,DHV), i, f (B,NH,S): \
        S steps run one after the other from the state, and h.npy is (B,NH,S,DHV) with the \
        state after the last token. For --gate sig the state is (c0, n0): m0 may be left \
        out and must be all zeros if given; m.npy is written, all zeros.

        --kernel fused (default) is the generation kernel InferenceState uses; --kernel \
        reference is Reference.step, written for clarity, one head at a time (several times \
        slower; the two agree to rounding). \
        With --repeat, kernel_seconds is the median time of all the steps (file I/O and \
        the state's first copy excluded).
        """)

    @Option(help: "fused (the generation kernel) or reference (Reference.step).") var kernel: StepKernelChoice = .fused
    @Flag(help: "Inputs have a token axis S: run S steps and write every h (B,NH,S,DHV).") var tokens = false
    @Option(help: "Fused kernel: worker threads (default: the cores available).") var threads: Int?
    @OptionGroup var gateOptions: GateOptions
    @OptionGroup var io: IOOptions

    func run() throws {
        try reportingFailures {
            try io.validateRepeats()
            if let threads, threads < 1 { throw CommandFailure("--threads must be at least 1, got \(threads)") }
            if kernel == .reference, threads != nil { throw CommandFailure("--threads applies to --kernel fused only") }
            let gate = try gateOptions.resolved()
            let directory = try ArrayDirectory(path: io.input, bfloat16Bits: io.bfloat16Bits)
            let headers = try InputHeaders(directory, required: ["q", "k", "v", "i", "f"], optional: ["c0", "n0", "m0"])
            let dtype = try headers.computeDType(requested: io.dtype)
            // h, the state and its copy (as `compute` checks once the shapes are validated).
            try headers.requireMemory(dtype: dtype, work: { shape, size in
                shape.outputBytes(scalar: size) + shape.outputBytes(scalar: size)
            }, command: "step")
            let (inputs, state) = try headers.read()
            switch dtype {
            case .float32: try compute(Float.self, inputs, state, gate: gate)
            case .float64: try compute(Double.self, inputs, state, gate: gate)
            }
        }
    }

    /// One token's inputs: q, k (B,NH,DQK), v (B,NH,DHV), i, f (B,NH,1).
    private struct Token<S: KernelScalar> {
        var q, k, v, i, f: Tensor<S>
    }

    private func compute<S: KernelScalar>(
        _: S.Type, _ inputs: [(String, NPYArray)], _ stateArrays: [(String, NPYArray)], gate: Gate
    ) throws {
        let x = inputs.map { $0.1.tensor(as: S.self) }
        let (shape, steps) = try Self.tokens(x, sequence: tokens)
        try shape.requireAddressable()
        try MemoryBudget.require(shape.outputBytes(scalar: MemoryLayout<S>.size) + shape.outputBytes(scalar: MemoryLayout<S>.size),
                                 for: "step")
        let parts = Dictionary(uniqueKeysWithValues: stateArrays.map { ($0.0, $0.1.tensor(as: S.self)) })
        let initial = try MLSTMState(c: parts["c0"], n: parts["n0"], m: parts["m0"], gate: gate)
            ?? MLSTMState(zerosFor: shape)
        for (name, part, expected) in [("c0", initial.c, shape.memoryShape), ("n0", initial.n, shape.normalizerShape),
                                       ("m0", initial.m, shape.stabilizerShape)] where part.shape != expected {
            throw CommandFailure("\(name): expected shape \(expected), got \(part.shape)")
        }
        let eps = try gateOptions.eps(as: S.self)
        var output = try OutputSet(io.output)
        let (bh, dhv, count) = (shape.batchHeads, shape.valueDim, steps.count)
        var h = Tensor<S>(shape: tokens ? shape.valueShape : [shape.batch, shape.heads, dhv])
        var final = initial
        // Copies one token's h (B,NH,DHV) into position t of h.
        func store(_ token: Tensor<S>, at t: Int) {
            token.withUnsafeBufferPointer { source in
                h.withUnsafeMutableBufferPointer { target in
                    for head in 0..<bh {
                        for col in 0..<dhv { target[(head * count + t) * dhv + col] = source[head * dhv + col] }
                    }
                }
            }
        }
        switch kernel {
        case .fused:
            let state = try InferenceState(initial, gate: gate, eps: eps)
            state.threads = threads
            var out = Tensor<S>(shape: [shape.batch, shape.heads, dhv])
            for (t, token) in steps.enumerated() {
                try state.step(q: token.q, k: token.k, v: token.v, i: token.i, f: token.f, into: &out)
                store(out, at: t)
            }
            final = state.snapshot()
            if let repeats = io.repeats {
                // The same steps again on a scratch state: the kernel's cost
                // does not depend on the values.
                let scratch = try InferenceState(initial, gate: gate, eps: eps)
                scratch.threads = threads
                let median = try Stopwatch.median(repeats: repeats) {
                    for token in steps { try scratch.step(q: token.q, k: token.k, v: token.v, i: token.i, f: token.f, into: &out) }
                }
                reportKernelSeconds(median)
            }
        case .reference:
            final = try timed(repeats: io.repeats) { () throws -> MLSTMState<S> in
                var state = initial
                for (t, token) in steps.enumerated() {
                    let result = try Reference.step(q: token.q, k: token.k, v: token.v, i: token.i, f: token.f,
                                                    state: state, gate: gate, eps: eps)
                    store(result.h, at: t)
                    state = result.state
                }
                return state
            }
        }
        output.add(h, as: "h")
        output.add(final.c, as: "c")
        output.add(final.n, as: "n")
        output.add(final.m, as: "m")
        try output.commit()
    }

    /// The problem's shape and its tokens: the arrays as given, or split
    /// along S with `--tokens`.
    private static func tokens<S: KernelScalar>(_ x: [Tensor<S>], sequence: Bool) throws -> (ProblemShape, [Token<S>]) {
        if sequence {
            let shape = try MLSTMInputs(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4]).validatedShape()
            let (b, nh, dqk, dhv) = (shape.batch, shape.heads, shape.keyDim, shape.valueDim)
            let steps = try (0..<shape.sequence).map { t throws(TFLAError) in
                let slice = { (tensor: Tensor<S>, dims: [Int]) throws(TFLAError) in
                    try tensor.slicing(axis: 2, t..<t + 1).reshaped(dims)
                }
                return Token(q: try slice(x[0], [b, nh, dqk]), k: try slice(x[1], [b, nh, dqk]), v: try slice(x[2], [b, nh, dhv]),
                             i: try slice(x[3], [b, nh, 1]), f: try slice(x[4], [b, nh, 1]))
            }
            return (shape, steps)
        }
        for (name, tensor, axes) in [("q", x[0], "(B,NH,DQK)"), ("v", x[2], "(B,NH,DHV)")] where tensor.rank != 3 {
            throw CommandFailure("\(name): expected 3 dimensions \(axes), got shape \(tensor.shape) (pass --tokens for (B,NH,S,·) inputs)")
        }
        let shape = ProblemShape(batch: x[0].shape[0], heads: x[0].shape[1], sequence: 1,
                                 keyDim: x[0].shape[2], valueDim: x[2].shape[2])
        return (shape, [Token(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4])])
    }
}
