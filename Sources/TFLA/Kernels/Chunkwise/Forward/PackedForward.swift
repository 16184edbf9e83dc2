extension Chunkwise {
    /// The forward pass over several sequences packed along S.
    ///
    /// Sequence r occupies tokens `sequenceOffsets[r]..<sequenceOffsets[r+1]`
    /// of every (batch, head) row — the `cu_seqlens` convention of other
    /// kernel libraries. Each sequence starts from its own initial state
    /// (zeros when `initialStates` is nil) and its chunks never see another
    /// sequence's tokens, so the result equals running each sequence alone;
    /// all sequences share one parallel region. An inference forward: for
    /// gradients use ``gradients(packed:sequenceOffsets:gate:initialStates:eps:dh:dFinalStates:mode:stateStride:options:)``.
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f of all sequences, packed along S.
    ///   - sequenceOffsets: N + 1 offsets, starting at 0, strictly
    ///     increasing, ending at S.
    ///   - gate: exponential or sigmoid input gate.
    ///   - initialStates: nil, or one state per sequence.
    ///   - eps: added to the denominator; finite and ≥ 0.
    ///   - options: every option applies to each sequence, as for
    ///     ``forward(_:gate:initialState:eps:options:)`` (bf16 products with
    ///     Float inputs only).
    public static func forward<Scalar: KernelScalar>(
        packed inputs: MLSTMInputs<Scalar>, sequenceOffsets: [Int], gate: Gate,
        initialStates: [MLSTMState<Scalar>]? = nil, eps: Scalar = 1e-6,
        options: ChunkwiseOptions = .default
    ) throws(TFLAError) -> MLSTMPackedOutput<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try options.validate()
        try options.requireSupportedPrecision(Scalar.self, call: .packed)
        let offsets = sequenceOffsets
        try validatePacking(offsets, initialStates: initialStates, shape: shape, gate: gate)
        let count = offsets.count - 1
        let plan = ChunkwisePlan(shape: shape, gate: gate, call: .packed, sequences: count, options: options)
        try MemoryBudget.require(shape.chunkwiseForwardBytes(scalar: MemoryLayout<Scalar>.size, tiling: plan.tiling, training: false)
                                 + shape.stateBytes(count: 2 * count, scalar: MemoryLayout<Scalar>.size), for: "packed forward")
        if options.checksValues { try inputs.validateGateValues(gate: gate) }
        let initial = initialStates ?? Array(repeating: MLSTMState(zerosFor: shape), count: count)
        var states = (0..<count).map { _ in MLSTMState<Scalar>(uninitializedFor: shape) }
        var h = Tensor<Scalar>(uninitializedShape: shape.valueShape)
        let tiling = plan.tiling
        let flag = options.checksValues ? NonFiniteFlag() : nil
        inputs.withPointers { input in
            initial.withStatePointers { starts in
                h.withWritePointer { output in
                    states.withMutableStatePointers { finals in
                        let contexts = (0..<count).map { index in
                            var context = ForwardContext(
                                plan: plan, eps: Double(eps), inputs: input,
                                initial: InitialStatePointers(c: starts[index].c, n: starts[index].n, m: starts[index].m),
                                output: ForwardOutputPointers(h: output, state: finals[index]))
                            context.tokens = offsets[index]..<offsets[index + 1]
                            context.apply(options, nonFinite: flag)
                            return context
                        }
                        scan(contexts, save: nil)
                    }
                }
            }
        }
        if flag?.isRaised == true { try explainNonFinite(inputs, gate: gate, h: h, threads: tiling.threads) }
        return MLSTMPackedOutput(h: h, states: states)
    }
}

extension Chunkwise {
    /// Checks cu_seqlens-style offsets and the per-sequence initial states.
    static func validatePacking<Scalar: KernelScalar>(
        _ offsets: [Int], initialStates: [MLSTMState<Scalar>]?, shape: ProblemShape, gate: Gate
    ) throws(TFLAError) {
        guard offsets.count >= 2, offsets.first == 0, offsets.last == shape.sequence,
              zip(offsets, offsets.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw .invalidParameter(
                name: "sequenceOffsets", value: "\(offsets)",
                requirement: "strictly increasing from 0 to S = \(shape.sequence), with at least one sequence")
        }
        let count = offsets.count - 1
        if let initialStates {
            guard initialStates.count == count else {
                throw .invalidParameter(name: "initialStates", value: "\(initialStates.count) states",
                                        requirement: "one per sequence (\(count))")
            }
            for (index, state) in initialStates.enumerated() {
                try state.validate(for: shape, gate: gate, prefix: "initialStates[\(index)] ")
            }
        }
    }
}
