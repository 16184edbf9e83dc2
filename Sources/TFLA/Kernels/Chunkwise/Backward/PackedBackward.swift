extension Chunkwise {
    /// Training forward and backward over several sequences packed
    /// along S (`cu_seqlens` offsets, as in
    /// ``forward(packed:sequenceOffsets:gate:initialStates:eps:options:)``).
    ///
    /// Each sequence is differentiated on its own — its gradients equal
    /// those of ``gradients(_:gate:initialState:eps:dh:dFinalState:mode:stateStride:options:)``
    /// on that sequence alone — one after the other, each using all workers.
    ///
    /// - Parameters:
    ///   - inputs: the sequences packed along S, `T` tokens in all.
    ///   - sequenceOffsets: N + 1 offsets, starting at 0, strictly
    ///     increasing, ending at T.
    ///   - gate: the input gate.
    ///   - initialStates: nil (zeros), or one state per sequence.
    ///   - eps: added to the denominator (finite, ≥ 0).
    ///   - dh: upstream gradient of the packed h, `(B, NH, T, DHV)`.
    ///   - dFinalStates: nil, or per sequence the upstream gradients of its
    ///     final (c, n, m).
    ///   - mode: ``GradientMode/exact`` or ``GradientMode/reference``.
    ///   - stateStride: keep the state before every `stateStride`-th chunk
    ///     of each sequence (≥ 1); the backward recomputes the others.
    ///   - options: tiling and threads of both passes; `precision` must be
    ///     ``ChunkwiseOptions/Precision/inputType``.
    /// - Returns: the packed outputs and final states, and the gradients.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func gradients<Scalar: KernelScalar>(
        packed inputs: MLSTMInputs<Scalar>, sequenceOffsets: [Int], gate: Gate,
        initialStates: [MLSTMState<Scalar>]? = nil, eps: Scalar = 1e-6,
        dh: Tensor<Scalar>, dFinalStates: [MLSTMState<Scalar>]? = nil,
        mode: GradientMode = .exact, stateStride: Int = 4, options: ChunkwiseOptions = .training
    ) throws(TFLAError) -> MLSTMPackedTrainingResult<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try options.validate()
        try options.requireSupportedPrecision(Scalar.self, call: .backward)
        guard stateStride >= 1 else {
            throw .invalidParameter(name: "stateStride", value: "\(stateStride)", requirement: "at least 1")
        }
        try validatePacking(sequenceOffsets, initialStates: initialStates, shape: shape, gate: gate)
        try Validation.requireShape(dh, shape.valueShape, "dh")
        let count = sequenceOffsets.count - 1
        if let dFinalStates {
            guard dFinalStates.count == count else {
                throw .invalidParameter(name: "dFinalStates", value: "\(dFinalStates.count) states",
                                        requirement: "one per sequence (\(count))")
            }
            for (index, d) in dFinalStates.enumerated() {
                try Validation.requireStateGradients(d, shape, prefix: "dFinalStates[\(index)].")
            }
        }
        // Checked here once, so that errors name indices of the packed
        // arrays; the per-sequence calls below then skip their checks.
        var options = options
        if options.checksValues {
            let threads = options.resolved(for: shape).threads
            try inputs.validateValues(gate: gate, threads: threads)
            try Validation.requireFinite(dh, "dh", threads: threads)
            options.checksValues = false
        }
        let size = MemoryLayout<Scalar>.size
        let tiling = options.resolved(for: shape, stateStride: stateStride, call: .training)
        try MemoryBudget.require(shape.chunkwiseForwardBytes(scalar: size, tiling: tiling, training: true)
                                 + shape.gradientBytes(scalar: size) + shape.stateBytes(count: 3 * count, scalar: size), for: "packed gradients")
        var h = Tensor<Scalar>(uninitializedShape: shape.valueShape)
        var g = (dq: Tensor<Scalar>(uninitializedShape: shape.queryShape), dk: Tensor<Scalar>(uninitializedShape: shape.queryShape),
                 dv: Tensor<Scalar>(uninitializedShape: shape.valueShape),
                 di: Tensor<Scalar>(uninitializedShape: shape.gateShape), df: Tensor<Scalar>(uninitializedShape: shape.gateShape))
        var states: [MLSTMState<Scalar>] = [], initialGradients: [MLSTMState<Scalar>] = []
        for index in 0..<count {
            let range = sequenceOffsets[index]..<sequenceOffsets[index + 1]
            let result = try gradients(
                try inputs.sequenceSlice(range), gate: gate, initialState: initialStates?[index], eps: eps,
                dh: try dh.slicing(axis: 2, range), dFinalState: dFinalStates?[index], mode: mode,
                stateStride: stateStride, options: options)
            let (output, sequence) = (result.output, result.gradients)
            h.replaceSlice(axis: 2, range, with: output.h)
            g.dq.replaceSlice(axis: 2, range, with: sequence.dq)
            g.dk.replaceSlice(axis: 2, range, with: sequence.dk)
            g.dv.replaceSlice(axis: 2, range, with: sequence.dv)
            g.di.replaceSlice(axis: 2, range, with: sequence.di)
            g.df.replaceSlice(axis: 2, range, with: sequence.df)
            states.append(output.state)
            initialGradients.append(sequence.dInitialState)
        }
        return MLSTMPackedTrainingResult(
            output: MLSTMPackedOutput(h: h, states: states),
            gradients: MLSTMPackedGradients(dq: g.dq, dk: g.dk, dv: g.dv, di: g.di, df: g.df, dInitialStates: initialGradients))
    }
}
