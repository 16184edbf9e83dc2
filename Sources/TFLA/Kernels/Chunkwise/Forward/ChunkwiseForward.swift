import RealModule

/// The chunkwise-parallel mLSTM with TFLA's tiling (`Documentation.docc/Math.md` §1, §3).
public enum Chunkwise {}

extension Chunkwise {
    /// The forward pass for inference: h and the final state, for either
    /// gate.
    ///
    /// The sequence is cut into chunks of `options.chunkSize` tokens (the
    /// last may be shorter). Outputs of a chunk come from the state before it
    /// (q̄ᵀC, one GEMM per chunk) and from the chunk's own tokens
    /// (s·QKᵀ ⊙ D against V, query tile by key/value tile up to the
    /// diagonal); the state advances as C ← γC + (diag(w)K)ᵀV.
    ///
    /// One work item per (batch, head, segment of chunks, tile of C's
    /// columns) walks its chunks; segments are summarized first and composed
    /// into each segment's incoming state (`Documentation.docc/Math.md` §7); nothing
    /// beyond the running state is kept. For a backward pass use
    /// ``trainingForward(_:gate:initialState:eps:stateStride:options:)``,
    /// which also keeps the chunk states.
    ///
    /// The items are planned for `options.parallelism` workers. Results do
    /// not depend on the number of threads given the same options.
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f (see ``MLSTMInputs``).
    ///   - gate: exponential or sigmoid input gate.
    ///   - initialState: (c0, n0, m0), zeros when nil; m0 must be zero
    ///     for the sigmoid gate.
    ///   - eps: added to the denominator; finite and ≥ 0.
    ///   - options: every option applies; ``ChunkwiseOptions/Precision/bf16Products``
    ///     needs Float inputs (Double inputs are refused with
    ///     ``TFLAError/unsupported(_:)``).
    /// - Returns: h `(B, NH, S, DHV)` and the state after the last token.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func forward<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate,
        initialState: MLSTMState<Scalar>? = nil, eps: Scalar = 1e-6,
        options: ChunkwiseOptions = .default
    ) throws(TFLAError) -> MLSTMOutput<Scalar> {
        var h: Tensor<Scalar>?
        let result = try forwardPass(inputs, gate: gate, initialState: initialState, eps: eps,
                                     stateStride: nil, options: options, output: &h)
        guard let h else { preconditionFailure("the forward allocates h") }
        return MLSTMOutput(h: h, state: result.state)
    }

    /// The inference forward writing h into a tensor the caller keeps, for
    /// a prefill that runs again and again: the same h and state as
    /// ``forward(_:gate:initialState:eps:options:)``, bit for bit.
    ///
    /// A fresh h is new memory, and the operating system clears every page
    /// of it on its first write: 134 MB at the 7B head, 30–55 ms for two
    /// threads writing alone, partly hidden behind the products inside a
    /// forward (`Docs/log/bf16-amx.md`, "h kept across calls"). Writing into the h of an earlier call, or
    /// into memory wrapped with ``Tensor/init(shape:wrapping:)``, skips it.
    /// `h` is written in place when it is the only copy of its storage (a
    /// shared copy is detached first, as for every write to a ``Tensor``).
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f (see ``MLSTMInputs``).
    ///   - gate: exponential or sigmoid input gate.
    ///   - initialState: (c0, n0, m0), zeros when nil; m0 must be zero
    ///     for the sigmoid gate.
    ///   - eps: added to the denominator; finite and ≥ 0.
    ///   - options: every option applies, as for
    ///     ``forward(_:gate:initialState:eps:options:)``.
    ///   - h: receives h; its shape must be v's, `(B, NH, S, DHV)`. Its
    ///     contents are unspecified when the call throws after validation
    ///     (a non-finite value found in the outputs).
    /// - Returns: the state after the last token.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid,
    ///   `h`'s shape included.
    public static func forward<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate,
        initialState: MLSTMState<Scalar>? = nil, eps: Scalar = 1e-6,
        options: ChunkwiseOptions = .default, into h: inout Tensor<Scalar>
    ) throws(TFLAError) -> MLSTMState<Scalar> {
        // Moved into an optional and back, so that the storage stays
        // uniquely referenced and is written in place.
        var output: Tensor<Scalar>? = h
        h = Tensor(shape: [0])
        defer { if let output { h = output } }
        return try forwardPass(inputs, gate: gate, initialState: initialState, eps: eps,
                               stateStride: nil, options: options, output: &output).state
    }

    /// The forward pass for training: h, the final state, and the chunk
    /// states that ``backward(_:gate:initialState:eps:forward:dh:dFinalState:mode:options:)``
    /// starts from.
    ///
    /// The same scan as ``forward(_:gate:initialState:eps:options:)``,
    /// saving the state before every `stateStride`-th chunk; with too few
    /// items for that, a chunk-state kernel (items per head and tile of C)
    /// saves the states and an output kernel (items per head, run of
    /// `stateStride` chunks and column tile) then produces the outputs in
    /// parallel from them. h and the final state equal those of the
    /// inference forward with the same options.
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f (see ``MLSTMInputs``).
    ///   - gate: exponential or sigmoid input gate.
    ///   - initialState: (c0, n0, m0), zeros when nil; m0 must be zero
    ///     for the sigmoid gate.
    ///   - eps: added to the denominator; finite and ≥ 0.
    ///   - stateStride: keep the state before every `stateStride`-th chunk
    ///     (≥ 1); the backward recomputes the others. A larger stride saves
    ///     memory at the cost of recomputation.
    ///   - options: tiling and threads; ``ChunkwiseOptions/training`` (chunks
    ///     of 128 tokens) by default. `precision` must be
    ///     ``ChunkwiseOptions/Precision/inputType`` (bf16 products are refused
    ///     with ``TFLAError/unsupported(_:)``).
    /// - Returns: h, the final state and the saved ``MLSTMChunkStates``.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid
    ///   (`stateStride` below 1 included).
    public static func trainingForward<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate,
        initialState: MLSTMState<Scalar>? = nil, eps: Scalar = 1e-6,
        stateStride: Int = 4, options: ChunkwiseOptions = .training
    ) throws(TFLAError) -> MLSTMTrainingOutput<Scalar> {
        var h: Tensor<Scalar>?
        let result = try forwardPass(inputs, gate: gate, initialState: initialState, eps: eps,
                                     stateStride: stateStride, options: options, output: &h)
        guard let h, let saved = result.saved else { preconditionFailure("a training forward saves its chunk states") }
        return MLSTMTrainingOutput(h: h, state: result.state, chunkStates: saved)
    }

    /// Both forwards: the inference scan when `stateStride` is nil, else
    /// training with that stride. h goes into `output`, allocated when nil.
    static func forwardPass<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate, initialState: MLSTMState<Scalar>?, eps: Scalar,
        stateStride: Int?, options: ChunkwiseOptions, output: inout Tensor<Scalar>?
    ) throws(TFLAError) -> (state: MLSTMState<Scalar>, saved: MLSTMChunkStates<Scalar>?) {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try options.validate()
        let call: ChunkwiseCall = stateStride == nil ? .inference : .training
        try options.requireSupportedPrecision(Scalar.self, call: call)
        if let stateStride, stateStride < 1 {
            throw .invalidParameter(name: "stateStride", value: "\(stateStride)", requirement: "at least 1")
        }
        try initialState?.validate(for: shape, gate: gate, prefix: "initial state ")
        let plan = ChunkwisePlan(shape: shape, gate: gate, call: call, stateStride: stateStride ?? 1, options: options)
        let tiling = plan.tiling
        try MemoryBudget.require(shape.chunkwiseForwardBytes(scalar: MemoryLayout<Scalar>.size, tiling: tiling,
                                                             training: stateStride != nil), for: "chunkwise forward")
        // Gates first (small); q, k and v through the outputs (ForwardContext.nonFinite).
        if options.checksValues { try inputs.validateGateValues(gate: gate) }
        // Items read the initial state and write the final one, which is
        // fully overwritten: no pass over C before the work starts (C₀ = 0
        // needs no array at all).
        let initial = initialState ?? MLSTMState(zeroNormalizerFor: shape)
        var state = MLSTMState<Scalar>(uninitializedFor: shape)
        if let given = output?.shape, given != shape.valueShape {
            throw .shapeMismatch(argument: "h", expected: shape.valueShape, given: given)
        }
        if output == nil { output = Tensor<Scalar>(uninitializedShape: shape.valueShape) }
        let nonFinite = options.checksValues ? NonFiniteFlag() : nil
        let saved: MLSTMChunkStates<Scalar>? = inputs.withPointers { input in
            initial.withPointers { start in
                output!.withWritePointer { hOut in
                    state.withMutablePointers { final in
                        var context = ForwardContext(
                            plan: plan, eps: Double(eps), inputs: input,
                            initial: InitialStatePointers(c: initialState == nil ? nil : start.c, n: start.n, m: start.m),
                            output: ForwardOutputPointers(h: hOut, state: final))
                        context.apply(options, nonFinite: nonFinite)
                        guard stateStride != nil else {
                            scan([context], save: nil)
                            return nil
                        }
                        return runTraining(context)
                    }
                }
            }
        }
        if nonFinite?.isRaised == true, let h = output {
            try explainNonFinite(inputs, gate: gate, h: h, threads: tiling.threads)
        }
        return (state, saved)
    }
}

extension Chunkwise {
    /// After a forward wrote a non-finite h: the input that caused it, or,
    /// if every input is valid, the overflowed output.
    /// `arithmetic` names the type h was computed in (the inputs' type by
    /// default).
    static func explainNonFinite<Input: TensorScalar, Output: TensorScalar>(
        _ inputs: MLSTMInputs<Input>, gate: Gate, h: Tensor<Output>, threads: Int,
        arithmetic: String = "\(Input.self)"
    ) throws(TFLAError) {
        try inputs.validateValues(gate: gate, threads: threads)
        guard let index = ValueCheck.firstNonFinite(h, threads: threads) else { return }
        let value = h.withUnsafeBufferPointer { $0[index].doubleValue }
        throw .nonFiniteValue(argument: "h", index: ValueCheck.position(of: index, in: h.shape),
                              value: ValueCheck.describe(value),
                              requirement: "overflowed the \(arithmetic) range although every input is valid; scale q, k or v down (with eps = 0, also a denominator whose e^{−m} underflowed: pass eps > 0)")
    }
}

extension MLSTMChunkStates {
    /// Runs `body` with pointers to the saved states for reading, alive for
    /// the call.
    func withPointers<R>(_ body: (_ c: UnsafePointer<Scalar>, _ n: UnsafePointer<Scalar>, _ m: UnsafePointer<Double>,
                                  _ denominatorArguments: UnsafePointer<Scalar>) -> R) -> R {
        c.withReadPointer { c in
            n.withReadPointer { n in
                m.withReadPointer { m in
                    denominatorArguments.withReadPointer { z in body(c, n, m, z) }
                }
            }
        }
    }
}
