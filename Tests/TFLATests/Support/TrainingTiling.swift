import TFLA

/// The tiling of a training call together with its state stride, which the
/// tests sweep together: the stride is a parameter of the training entries
/// (`Chunkwise.trainingForward`, `Chunkwise.gradients`), not an option.
struct TrainingTiling: Sendable, CustomStringConvertible {
    var options: ChunkwiseOptions
    var stateStride: Int

    init(chunkSize: Int = 64, queryTile: Int = 64, keyTile: Int = 64, keyDimTile: Int? = nil, valueDimTile: Int? = nil,
         stateStride: Int = 1, threads: Int? = nil, parallelism: Int? = nil, segments: Int? = nil) {
        options = ChunkwiseOptions(chunkSize: chunkSize, queryTile: queryTile, keyTile: keyTile, keyDimTile: keyDimTile,
                                   valueDimTile: valueDimTile, threads: threads, parallelism: parallelism, segments: segments)
        self.stateStride = stateStride
    }

    var chunkSize: Int { options.chunkSize }
    var description: String { "\(options), stride \(stateStride)" }
}

/// The two forwards the tests sweep: `Chunkwise.forward` and
/// `Chunkwise.trainingForward`.
enum ForwardKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case inference, training

    var description: String { rawValue }
}

/// A forward's h, final state and (training only) chunk states.
struct ForwardResult<Scalar: KernelScalar> {
    var h: Tensor<Scalar>
    var state: MLSTMState<Scalar>
    var chunkStates: MLSTMChunkStates<Scalar>?
}

/// Runs the inference forward, or the training forward with `stateStride`.
func chunkwiseForward<Scalar: KernelScalar>(
    _ kind: ForwardKind, _ x: MLSTMInputs<Scalar>, gate: Gate, initialState: MLSTMState<Scalar>? = nil,
    stateStride: Int = 1, options: ChunkwiseOptions
) throws(TFLAError) -> ForwardResult<Scalar> {
    switch kind {
    case .inference:
        let result = try Chunkwise.forward(x, gate: gate, initialState: initialState, options: options)
        return ForwardResult(h: result.h, state: result.state)
    case .training:
        let result = try Chunkwise.trainingForward(x, gate: gate, initialState: initialState, stateStride: stateStride,
                                                   options: options)
        return ForwardResult(h: result.h, state: result.state, chunkStates: result.chunkStates)
    }
}
