// Names of 0.5 that 0.6.0 renamed: each forwards to its new name and is
// deprecated, so that code written for 0.5 still compiles, with a warning
// that names the replacement. CHANGELOG.md lists the changes.

/// The result of one generation step: now ``MLSTMOutput``.
@available(*, deprecated, renamed: "MLSTMOutput")
public typealias MLSTMStepOutput<Scalar: TensorScalar> = MLSTMOutput<Scalar>

/// The training forward's saved states: now ``MLSTMChunkStates``.
@available(*, deprecated, renamed: "MLSTMChunkStates")
public typealias ChunkStates<Scalar: TensorScalar> = MLSTMChunkStates<Scalar>

/// The training forward's result: now ``MLSTMTrainingOutput``.
@available(*, deprecated, renamed: "MLSTMTrainingOutput")
public typealias ChunkwiseTrainingOutput<Scalar: TensorScalar> = MLSTMTrainingOutput<Scalar>

/// Forward and gradients: now ``MLSTMTrainingResult``.
@available(*, deprecated, renamed: "MLSTMTrainingResult")
public typealias ChunkwiseTrainingResult<Scalar: TensorScalar> = MLSTMTrainingResult<Scalar>

/// The packed forward's result: now ``MLSTMPackedOutput``.
@available(*, deprecated, renamed: "MLSTMPackedOutput")
public typealias PackedOutput<Scalar: TensorScalar> = MLSTMPackedOutput<Scalar>

/// The packed backward's gradients: now ``MLSTMPackedGradients``.
@available(*, deprecated, renamed: "MLSTMPackedGradients")
public typealias PackedGradients<Scalar: TensorScalar> = MLSTMPackedGradients<Scalar>

/// The packed forward and gradients: now ``MLSTMPackedTrainingResult``.
@available(*, deprecated, renamed: "MLSTMPackedTrainingResult")
public typealias PackedTrainingResult<Scalar: TensorScalar> = MLSTMPackedTrainingResult<Scalar>

/// The 16-bit-storage forward's result: now ``MLSTMStoredOutput``.
@available(*, deprecated, renamed: "MLSTMStoredOutput")
public typealias StoredOutput<Storage: TensorScalar> = MLSTMStoredOutput<Storage>

extension ChunkwiseOptions {
    /// Key/value rows per tile: now ``keyTile``.
    @available(*, deprecated, renamed: "keyTile")
    public var kvTile: Int {
        get { keyTile }
        set { keyTile = newValue }
    }

    /// Rows of C per state-kernel tile: now ``keyDimTile``.
    @available(*, deprecated, renamed: "keyDimTile")
    public var dqkTile: Int? {
        get { keyDimTile }
        set { keyDimTile = newValue }
    }

    /// Columns of C and h per work item: now ``valueDimTile``.
    @available(*, deprecated, renamed: "valueDimTile")
    public var dhvTile: Int? {
        get { valueDimTile }
        set { valueDimTile = newValue }
    }

    /// Options with the tile arguments' 0.5 names, `kvTile` among them:
    /// now ``init(chunkSize:queryTile:keyTile:keyDimTile:valueDimTile:threads:parallelism:segments:)``.
    @available(*, deprecated, renamed: "init(chunkSize:queryTile:keyTile:keyDimTile:valueDimTile:threads:parallelism:segments:)")
    public init(
        chunkSize: Int = 64, queryTile: Int = 64, kvTile: Int,
        dqkTile: Int? = nil, dhvTile: Int? = nil,
        threads: Int? = nil, parallelism: Int? = nil, segments: Int? = nil
    ) {
        self.init(chunkSize: chunkSize, queryTile: queryTile, keyTile: kvTile, keyDimTile: dqkTile,
                  valueDimTile: dhvTile, threads: threads, parallelism: parallelism, segments: segments)
    }
}

extension ChunkwiseOptions {
    /// Options with the tile arguments' 0.5 names, `dqkTile` the first of
    /// them: now ``init(chunkSize:queryTile:keyTile:keyDimTile:valueDimTile:threads:parallelism:segments:)``.
    @available(*, deprecated, renamed: "init(chunkSize:queryTile:keyTile:keyDimTile:valueDimTile:threads:parallelism:segments:)")
    public init(
        chunkSize: Int = 64, queryTile: Int = 64, dqkTile: Int?, dhvTile: Int? = nil,
        threads: Int? = nil, parallelism: Int? = nil, segments: Int? = nil
    ) {
        self.init(chunkSize: chunkSize, queryTile: queryTile, keyDimTile: dqkTile, valueDimTile: dhvTile,
                  threads: threads, parallelism: parallelism, segments: segments)
    }

    /// Options with the tile arguments' 0.5 names, `dhvTile` the only one:
    /// now ``init(chunkSize:queryTile:keyTile:keyDimTile:valueDimTile:threads:parallelism:segments:)``.
    @available(*, deprecated, renamed: "init(chunkSize:queryTile:keyTile:keyDimTile:valueDimTile:threads:parallelism:segments:)")
    public init(
        chunkSize: Int = 64, queryTile: Int = 64, dhvTile: Int?,
        threads: Int? = nil, parallelism: Int? = nil, segments: Int? = nil
    ) {
        self.init(chunkSize: chunkSize, queryTile: queryTile, valueDimTile: dhvTile,
                  threads: threads, parallelism: parallelism, segments: segments)
    }
}

extension ChunkwiseOptions.Precision {
    /// Products in the inputs' own type: now ``inputType`` (which is
    /// float64 for Double inputs, as it always was).
    @available(*, deprecated, renamed: "inputType")
    public static var float32: Self { .inputType }
}

extension MLSTMState {
    /// A state from parts that may be absent: now
    /// ``init(c:n:m:gate:)``.
    @available(*, deprecated, message: "use MLSTMState(c:n:m:gate:), a failable throwing initializer")
    public static func optional(
        c: Tensor<Scalar>?, n: Tensor<Scalar>?, m: Tensor<Scalar>?, gate: Gate = .exponential
    ) throws(TFLAError) -> MLSTMState? {
        try MLSTMState(c: c, n: n, m: m, gate: gate)
    }
}
