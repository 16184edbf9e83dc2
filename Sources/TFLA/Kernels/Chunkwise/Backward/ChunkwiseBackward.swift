import RealModule

extension Chunkwise {
    /// The backward pass of ``trainingForward(_:gate:initialState:eps:stateStride:options:)``:
    /// gradients of a loss with respect to q, k, v, i, f and the initial
    /// state, from the upstream gradients of h and of the final state.
    ///
    /// Structure (`Documentation.docc/BackwardPass.md`): the gradient of the chunk state is
    /// carried from the last chunk to the first
    /// (dC_{k−1} = γ·dC_k + (α⊙Q)ᵀ·dH̄), and each chunk's dq, dk and dv come
    /// from GEMMs on query × key/value tiles up to the diagonal plus the
    /// inter-chunk products with C_{k−1} and dC_k. With two or more (batch,
    /// head) pairs one work item per head does both while walking the chunks
    /// in reverse; for a single head, TFLA's phases run instead — states,
    /// then the dC recurrence per tile of C's columns, then every chunk in
    /// parallel — so that it still uses every core (`Docs/log/optimisation.md`, "Entry 12"). The states before the chunks
    /// come from `forward.chunkStates`, which also fix the chunk size and
    /// the state stride; between two saved states (stride > 1) they are
    /// recomputed. Gate gradients follow from q·dq − k·dk by a reverse
    /// cumulative sum, plus, in exact mode, the paths through the
    /// stabilizer m.
    ///
    /// Results do not depend on the number of threads.
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f, exactly as given to the forward.
    ///   - gate: the forward's gate.
    ///   - initialState: the forward's initial state (nil: zeros).
    ///   - eps: the forward's eps.
    ///   - forward: the training forward's output (it carries the chunk
    ///     states, their chunk size and stride, and the denominators the
    ///     backward needs).
    ///   - dh: upstream gradient of h, `(B, NH, S, DHV)`.
    ///   - dFinalState: upstream gradients of the final (c, n, m); zeros
    ///     if nil. Reference mode uses only dc.
    ///   - mode: ``GradientMode/exact`` or ``GradientMode/reference``.
    ///   - options: threads, tiles, parallelism and value checks. The chunk
    ///     size is the forward's: `options.chunkSize` is ignored at its
    ///     default (64) and must otherwise be the one the forward ran with
    ///     (at most S); `options.precision` must be ``ChunkwiseOptions/Precision/inputType``.
    /// - Returns: the gradients of q, k, v, i, f and of the initial state.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid,
    ///   among them chunk states that do not fit the inputs (naming
    ///   `forward.chunkStates` and the field).
    public static func backward<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate,
        initialState: MLSTMState<Scalar>? = nil, eps: Scalar = 1e-6,
        forward: MLSTMTrainingOutput<Scalar>, dh: Tensor<Scalar>, dFinalState: MLSTMState<Scalar>? = nil,
        mode: GradientMode = .exact, options: ChunkwiseOptions = .default
    ) throws(TFLAError) -> MLSTMGradients<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try options.validate()
        try options.requireSupportedPrecision(Scalar.self, call: .backward)
        try initialState?.validate(for: shape, gate: gate, prefix: "initial state ")
        try Validation.requireShape(dh, shape.valueShape, "dh")
        if let dFinalState { try Validation.requireStateGradients(dFinalState, shape) }
        let saved = forward.chunkStates
        guard saved.chunkSize >= 1, saved.chunkSize <= shape.sequence else {
            throw .invalidParameter(name: "forward.chunkStates.chunkSize", value: "\(saved.chunkSize)",
                                    requirement: "between 1 and S = \(shape.sequence): the chunk size of a forward over these inputs")
        }
        guard saved.stride >= 1 else {
            throw .invalidParameter(name: "forward.chunkStates.stride", value: "\(saved.stride)", requirement: "at least 1")
        }
        try requireForwardChunkSize(options, saved: saved, sequence: shape.sequence)
        var planOptions = options
        planOptions.chunkSize = saved.chunkSize
        // A stride beyond the chunk count keeps the same single state.
        let plan = ChunkwisePlan(shape: shape, gate: gate, call: .backward, stateStride: saved.stride, options: planOptions)
        let tiling = plan.tiling
        // q, k, v and the gates were checked by the forward (its outputs
        // are finite only if they are); dh is scanned here.
        if options.checksValues { try Validation.requireFinite(dh, "dh", threads: tiling.threads) }
        let chunkCount = (shape.sequence + tiling.chunk - 1) / tiling.chunk
        let stride = tiling.stateStride
        let segments = (chunkCount + stride - 1) / stride
        try MemoryBudget.require(shape.chunkwiseBackwardBytes(scalar: MemoryLayout<Scalar>.size, tiling: tiling),
                                 for: "chunkwise backward")
        try Validation.requireShape(forward.h, shape.valueShape, "forward.h")
        try Validation.requireShape(saved.c, [shape.batch, shape.heads, segments, shape.keyDim, shape.valueDim], "forward.chunkStates.c")
        try Validation.requireShape(saved.n, [shape.batch, shape.heads, segments, shape.keyDim], "forward.chunkStates.n")
        try Validation.requireShape(saved.m, [shape.batch, shape.heads, segments], "forward.chunkStates.m")
        try Validation.requireShape(saved.denominatorArguments, shape.gateShape, "forward.chunkStates.denominatorArguments")
        try forward.state.validate(for: shape, gate: gate, prefix: "forward final state ")

        let initial = initialState ?? MLSTMState(zerosFor: shape)
        var g = MLSTMGradients<Scalar>(
            dq: Tensor(uninitializedShape: shape.queryShape), dk: Tensor(uninitializedShape: shape.queryShape),
            dv: Tensor(uninitializedShape: shape.valueShape),
            di: Tensor(uninitializedShape: shape.gateShape), df: Tensor(uninitializedShape: shape.gateShape),
            dInitialState: MLSTMState(uninitializedFor: shape))
        let arguments = BackwardArguments(plan: plan, eps: Double(eps), exact: mode == .exact, inputs: inputs,
                                          initial: initial, forward: forward, dh: dh, dFinalState: dFinalState)
        BackwardContext.with(arguments, gradients: &g) { context in
            run(context)
        }
        return g
    }

    /// The backward as its plan says: one item per head walking its chunks
    /// in reverse, blocks of chunks walked in parallel
    /// (`SegmentBackward.swift`), or, for one head, TFLA's phases
    /// (`PhasedBackward.swift`).
    static func run<Scalar: KernelScalar>(_ context: BackwardContext<Scalar>) {
        let plan = context.forward.plan
        switch plan.strategy {
        case .blocks: runBlocks(context)
        case .headWalks:
            let shared = UnsafeSendable(context)
            runPhase(plan.phase(.headWalks), threads: plan.threads, makeScratch: { BackwardScratch(shared.value) }) { head, scratch in
                headBackward(shared.value, head: head, scratch: scratch)
            }
        case .phases: runInPhases(context)
        default: preconditionFailure("a backward plan walks heads, blocks or phases")
        }
    }

    /// ``trainingForward(_:gate:initialState:eps:stateStride:options:)``
    /// followed by ``backward(_:gate:initialState:eps:forward:dh:dFinalState:mode:options:)``.
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f (see ``MLSTMInputs``).
    ///   - gate: exponential or sigmoid input gate.
    ///   - initialState: (c0, n0, m0), zeros when nil.
    ///   - eps: added to the denominator; finite and ≥ 0.
    ///   - dh: upstream gradient of h, `(B, NH, S, DHV)`.
    ///   - dFinalState: upstream gradients of the final (c, n, m); zeros
    ///     if nil. Reference mode uses only dc.
    ///   - mode: ``GradientMode/exact`` or ``GradientMode/reference``.
    ///   - stateStride: keep the state before every `stateStride`-th chunk
    ///     (≥ 1); the backward recomputes the others.
    ///   - options: tiling and threads of both passes; `precision` must be
    ///     ``ChunkwiseOptions/Precision/inputType``.
    /// - Returns: the training forward's output and the gradients.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func gradients<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate,
        initialState: MLSTMState<Scalar>? = nil, eps: Scalar = 1e-6,
        dh: Tensor<Scalar>, dFinalState: MLSTMState<Scalar>? = nil,
        mode: GradientMode = .exact, stateStride: Int = 4, options: ChunkwiseOptions = .training
    ) throws(TFLAError) -> MLSTMTrainingResult<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireShape(dh, shape.valueShape, "dh")
        let output = try trainingForward(inputs, gate: gate, initialState: initialState, eps: eps,
                                         stateStride: stateStride, options: options)
        var backwardOptions = options
        backwardOptions.chunkSize = output.chunkStates.chunkSize
        let gradients = try backward(inputs, gate: gate, initialState: initialState, eps: eps, forward: output,
                                     dh: dh, dFinalState: dFinalState, mode: mode, options: backwardOptions)
        return MLSTMTrainingResult(output: output, gradients: gradients)
    }

    /// All chunks of one head in reverse, then its gate gradients.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func headBackward<Scalar: KernelScalar>(_ context: BackwardContext<Scalar>, head: Int, scratch: BackwardScratch<Scalar>) {
        let dC = scratch.memoryGradient.baseAddress, dN = scratch.normalizerGradient.baseAddress
        loadFinalStateGradients(context, head: head, dC: dC, dN: dN)
        walkBackward(context, head: head, segments: 0..<context.segments, dC: dC, dN: dN, scratch: scratch)
        storeInitialStateGradients(context, head: head, dC: dC, dN: dN)
        gateGradients(context, head: head, gates: scratch.gates)
    }

    /// dC and dn after the last chunk: the upstream dc, dn (dn in exact
    /// mode only), or zeros.
    static func loadFinalStateGradients<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, head: Int, dC: UnsafeMutablePointer<Scalar>, dN: UnsafeMutablePointer<Scalar>
    ) {
        let (dqk, dhv) = (context.forward.shape.keyDim, context.forward.shape.valueDim)
        if let dcLast = context.dcLast { dC.update(from: dcLast + head * dqk * dhv, count: dqk * dhv) } else { dC.update(repeating: 0, count: dqk * dhv) }
        if context.exact, let dnLast = context.dnLast {
            dN.update(from: dnLast + head * dqk, count: dqk)
        } else {
            dN.update(repeating: 0, count: dqk)
        }
    }

    /// dc0 and dn0 from dC and dn before the first chunk.
    static func storeInitialStateGradients<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, head: Int, dC: UnsafePointer<Scalar>, dN: UnsafePointer<Scalar>
    ) {
        let (dqk, dhv) = (context.forward.shape.keyDim, context.forward.shape.valueDim)
        (context.dc0 + head * dqk * dhv).update(from: dC, count: dqk * dhv)
        if context.exact {
            (context.dn0 + head * dqk).update(from: dN, count: dqk)
        } else {
            (context.dn0 + head * dqk).update(repeating: 0, count: dqk)
        }
    }

    /// The chunks of saved-state segments `segments` of one head in reverse:
    /// dq, dk, dv of each chunk, with dC and dn carried from after the last
    /// of them to before the first.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func walkBackward<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, head: Int, segments: Range<Int>,
        dC: UnsafeMutablePointer<Scalar>, dN: UnsafeMutablePointer<Scalar>, scratch: BackwardScratch<Scalar>
    ) {
        let fw = context.forward
        let (dqk, dhv) = (fw.shape.keyDim, fw.shape.valueDim)
        let (memory, normalizer) = (dqk * dhv, dqk)
        let chunkCount = fw.chunkCount
        for segment in segments.reversed() {
            let slot = head * context.segments + segment
            let first = segment * context.stride
            let chunks = first..<min(first + context.stride, chunkCount)
            let savedC = context.savedC + slot * memory, savedN = context.savedN + slot * normalizer
            // Recompute the states before the segment's later chunks.
            scratch.stabilizers[0] = context.savedM[slot]
            for j in 1..<max(1, chunks.count) {
                let (c, n) = (scratch.states.baseAddress + j * memory, scratch.normalizers.baseAddress + j * normalizer)
                scratch.stabilizers[j] = nextChunkState(
                    fw, head: head, index: first + j - 1,
                    c: j == 1 ? savedC : UnsafePointer(c - memory), n: j == 1 ? savedN : UnsafePointer(n - normalizer),
                    stabilizer: scratch.stabilizers[j - 1], nextC: c, nextN: n, scratch: scratch.forward)
            }
            for index in chunks.reversed() {
                let j = index - first
                let cPrev = j == 0 ? savedC : UnsafePointer(scratch.states.baseAddress + j * memory)
                let nPrev = j == 0 ? savedN : UnsafePointer(scratch.normalizers.baseAddress + j * normalizer)
                chunkBackward(context, head: head, index: index, cPrev: cPrev, nPrev: nPrev,
                              mPrev: scratch.stabilizers[j], dC: dC, dN: dN, carry: true, scratch: scratch)
            }
        }
    }
}
