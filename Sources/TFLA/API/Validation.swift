/// Argument checks shared by every public entry point.
enum Validation {
    static func requireRank<S>(_ tensor: Tensor<S>, _ rank: Int, _ name: String) throws(TFLAError) {
        guard tensor.rank == rank else {
            throw .rankMismatch(argument: name, expectedRank: rank, given: tensor.shape)
        }
    }

    static func requireNonEmpty<S>(_ tensor: Tensor<S>, _ name: String) throws(TFLAError) {
        guard !tensor.shape.contains(0) else {
            throw .invalidShape(argument: name, shape: tensor.shape, reason: "every dimension must be at least 1")
        }
    }

    static func requireShape<S>(_ tensor: Tensor<S>, _ expected: [Int], _ name: String) throws(TFLAError) {
        guard tensor.shape == expected else {
            throw .shapeMismatch(argument: name, expected: expected, given: tensor.shape)
        }
    }

    /// The shapes of a state, or of the gradients of one, named
    /// `c`/`n`/`m` with a prefix.
    static func requireStateShapes<S>(
        _ state: MLSTMState<S>, _ shape: ProblemShape, names: (String, String, String)
    ) throws(TFLAError) {
        try requireShape(state.c, shape.memoryShape, names.0)
        try requireShape(state.n, shape.normalizerShape, names.1)
        try requireShape(state.m, shape.stabilizerShape, names.2)
    }

    static func requireEps<S: BinaryFloatingPoint>(_ eps: S) throws(TFLAError) {
        guard eps.isFinite, eps >= 0 else {
            throw .invalidParameter(name: "eps", value: "\(eps)", requirement: "finite and ≥ 0")
        }
    }
}

extension Chunkwise {
    /// Refuses a chunk size that a backward cannot use: the backward runs
    /// with the chunk size its saved states were made with, so
    /// `options.chunkSize` is accepted at its default (ignored) or when a
    /// forward with it over `sequence` tokens saves `saved.chunkSize`.
    static func requireForwardChunkSize<Scalar>(
        _ options: ChunkwiseOptions, saved: MLSTMChunkStates<Scalar>, sequence: Int
    ) throws(TFLAError) {
        let requested = options.chunkSize
        guard requested == ChunkwiseOptions.default.chunkSize || min(requested, sequence) == saved.chunkSize else {
            throw .invalidParameter(
                name: "options.chunkSize", value: "\(requested)",
                requirement: "the forward's chunk size \(saved.chunkSize) (or the default, which the backward ignores): "
                    + "the backward takes its chunk size from forward.chunkStates")
        }
    }
}
