/// The gradients of a packed variable-length forward.
public struct PackedGradients<Scalar: TensorScalar>: Sendable {
    /// Gradients of q, k, v, i, f in the packed layout of the inputs.
    public var dq, dk, dv, di, df: Tensor<Scalar>
    /// Per sequence, in order: the gradients of its initial state
    /// (dc0, dn0, dm0 as the c, n, m of a state; zeros' gradients when no
    /// initial states were given).
    public var initialStates: [MLSTMState<Scalar>]
}

extension Chunkwise {
    /// Forward (training mode) and backward over several sequences packed
    /// along S (`cu_seqlens` offsets, as in
    /// ``forward(packed:sequenceOffsets:gate:initialStates:eps:options:)``).
    ///
    /// Each sequence is differentiated on its own — its gradients equal
    /// those of ``gradients(_:gate:initialState:eps:dh:dState:mode:options:)``
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
    ///   - finalStateGradients: nil, or per sequence the upstream gradients
    ///     of its final (c, n, m).
    ///   - mode: ``GradientMode/exact`` or ``GradientMode/reference``.
    ///   - options: the tiling (training mode is used whatever is given).
    public static func gradients<Scalar: KernelScalar>(
        packed inputs: MLSTMInputs<Scalar>, sequenceOffsets: [Int], gate: Gate,
        initialStates: [MLSTMState<Scalar>]? = nil, eps: Scalar = 1e-6,
        dh: Tensor<Scalar>, finalStateGradients: [MLSTMState<Scalar>]? = nil,
        mode: GradientMode = .exact, options: ChunkwiseOptions = .training
    ) throws(TFLAError) -> (output: PackedOutput<Scalar>, gradients: PackedGradients<Scalar>) {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try options.validate()
        try validatePacking(sequenceOffsets, initialStates: initialStates, shape: shape, gate: gate)
        try Validation.requireShape(dh, shape.valueShape, "dh")
        let count = sequenceOffsets.count - 1
        if let finalStateGradients {
            guard finalStateGradients.count == count else {
                throw .invalidParameter(name: "finalStateGradients", value: "\(finalStateGradients.count) states",
                                        requirement: "one per sequence (\(count))")
            }
            for (index, d) in finalStateGradients.enumerated() {
                try Validation.requireStateGradients(d, shape, prefix: "finalStateGradients[\(index)].")
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
        try MemoryBudget.require(shape.chunkwiseForwardBytes(scalar: size, tiling: options.resolved(for: shape), training: true)
                                 + shape.gradientBytes(scalar: size) + shape.stateBytes(count: 3 * count, scalar: size), for: "packed gradients")
        var h = Tensor<Scalar>(uninitializedShape: shape.valueShape)
        var g = (dq: Tensor<Scalar>(uninitializedShape: shape.queryShape), dk: Tensor<Scalar>(uninitializedShape: shape.queryShape),
                 dv: Tensor<Scalar>(uninitializedShape: shape.valueShape),
                 di: Tensor<Scalar>(uninitializedShape: shape.gateShape), df: Tensor<Scalar>(uninitializedShape: shape.gateShape))
        var states: [MLSTMState<Scalar>] = [], initialGradients: [MLSTMState<Scalar>] = []
        for index in 0..<count {
            let range = sequenceOffsets[index]..<sequenceOffsets[index + 1]
            let (output, sequence) = try gradients(
                try inputs.sequenceSlice(range), gate: gate, initialState: initialStates?[index], eps: eps,
                dh: try dh.slicing(axis: 2, range), dState: finalStateGradients?[index], mode: mode, options: options)
            h.replaceSlice(axis: 2, range, with: output.h)
            g.dq.replaceSlice(axis: 2, range, with: sequence.dq)
            g.dk.replaceSlice(axis: 2, range, with: sequence.dk)
            g.dv.replaceSlice(axis: 2, range, with: sequence.dv)
            g.di.replaceSlice(axis: 2, range, with: sequence.di)
            g.df.replaceSlice(axis: 2, range, with: sequence.df)
            states.append(output.state)
            initialGradients.append(MLSTMState(c: sequence.dc0, n: sequence.dn0, m: sequence.dm0))
        }
        return (PackedOutput(h: h, states: states),
                PackedGradients(dq: g.dq, dk: g.dk, dv: g.dv, di: g.di, df: g.df, initialStates: initialGradients))
    }
}
