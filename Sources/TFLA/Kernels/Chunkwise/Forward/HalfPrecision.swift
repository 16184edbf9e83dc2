extension Chunkwise {
    /// The forward pass for inputs and outputs stored in a 16-bit type
    /// (`Float16`, ``BFloat16``), with float32 arithmetic.
    ///
    /// The state stays float32: its stabilizer m is a log-scale that grows
    /// with the sequence, and rounding it to 8 (bfloat16) or 11 (float16)
    /// significant bits would rescale C and n by up to e^{ulp(m)/2} — a
    /// relative error of percents, not of one rounding.
    ///
    /// Inputs are converted to float32 copies first, so the call needs the
    /// float32 working memory of a float32 call.
    ///
    /// Every option applies, as for ``forward(_:gate:initialState:eps:options:)``
    /// with Float inputs (``ChunkwiseOptions/Precision/bf16Products`` included).
    ///
    /// - Returns: h in the storage type and the final state in float32.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func forward<Storage: TensorScalar>(
        storedAs inputs: MLSTMInputs<Storage>, gate: Gate,
        initialState: MLSTMState<Float>? = nil, eps: Float = 1e-6,
        options: ChunkwiseOptions = .default
    ) throws(TFLAError) -> MLSTMStoredOutput<Storage> {
        let wide = MLSTMInputs<Float>(
            q: inputs.q.converted(), k: inputs.k.converted(), v: inputs.v.converted(),
            i: inputs.i.converted(), f: inputs.f.converted())
        let result = try forward(wide, gate: gate, initialState: initialState, eps: eps, options: options)
        return MLSTMStoredOutput(h: result.h.converted(), state: result.state)
    }
}
