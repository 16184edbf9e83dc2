/// Tiling and threading of the chunkwise (TFLA) kernels.
///
/// Every valid choice computes the same function up to rounding; the
/// defaults are the fastest measured on the reference machine (see
/// `Docs/performance.md`, "Defaults and the measurements behind them").
///
/// Reproducibility: for a fixed choice of options the result is
/// bit-identical for any number of threads. The work decomposition is
/// planned for ``parallelism`` workers, which defaults to the cores of the
/// machine; set it (and keep it) to get the same bits on machines with
/// different core counts.
///
/// The options say how a call is tiled and threaded, never what it
/// computes: ``Chunkwise/forward(_:gate:initialState:eps:options:)`` is the
/// inference forward, ``Chunkwise/trainingForward(_:gate:initialState:eps:stateStride:options:)``
/// also keeps the chunk states (its `stateStride` says how many), and
/// ``Chunkwise/backward(_:gate:initialState:eps:forward:dh:dFinalState:mode:options:)``
/// takes the chunk size and stride from the states it is given.
///
/// Each entry's documentation says which options it ignores. An option that
/// an entry cannot honour is refused with a ``TFLAError`` when it is set
/// away from its default: ``precision`` ``Precision/bf16Products`` outside
/// the inference forward with Float inputs, and a ``chunkSize`` other than
/// the forward's given to the backward.
public struct ChunkwiseOptions: Sendable, Hashable {
    /// Tokens per chunk, L ≥ 1. The last chunk may be shorter.
    public var chunkSize: Int
    /// Query rows per output tile inside a chunk.
    public var queryTile: Int
    /// Key (and value) rows per tile of the intra-chunk product.
    public var keyTile: Int
    /// Rows of C per state-kernel tile, a tile of the key dimension DQK
    /// (nil: all of DQK).
    public var keyDimTile: Int?
    /// Columns of C and h per work item, a tile of the value dimension DHV
    /// (nil: chosen from the shape).
    public var valueDimTile: Int?
    /// Worker threads (nil: the cores this process may use).
    public var threads: Int?
    /// The worker count the work decomposition is planned for (nil: the
    /// cores this process may use; at most `Workers.maximumCount`). It
    /// decides how C's columns and the sequence are cut into work items, and
    /// so the rounding of the result; `threads` never does.
    public var parallelism: Int?
    /// Sequence segments scanned in parallel (nil: chosen from the shape and
    /// ``parallelism``; 1: one walk over all chunks). The forward summarizes
    /// each segment from the empty state and composes the summaries into
    /// each segment's incoming state (`Documentation.docc/Math.md` §7); the backward cuts
    /// its reverse walk into as many blocks of saved-state segments
    /// (`Documentation.docc/BackwardPass.md`, "Many cores").
    public var segments: Int?
    /// Whether the call enforces the non-finite policy (`Documentation.docc/Math.md`,
    /// "Non-finite inputs"): a NaN or refused infinity in the inputs throws
    /// ``TFLAError/nonFiniteValue(argument:index:value:requirement:)`` naming
    /// the array and the first index, and so does a result that overflowed.
    /// The forward checks its outputs while they are in cache and scans the
    /// inputs only when an output is non-finite; the backward also scans dh.
    /// Set it to false only for inputs you validated yourself
    /// (``MLSTMInputs/validateValues(gate:threads:)``): a non-finite input
    /// then gives unspecified values (NaN may reach earlier tokens of its
    /// chunk), never a crash.
    public var checksValues: Bool = true
    /// The precision of the forward's matrix products: the inputs' own
    /// type by default (``Precision/inputType``); ``Precision/bf16Products``
    /// for the inference forward with Float inputs. Entries that cannot use
    /// bf16 products refuse it with ``TFLAError/unsupported(_:)``.
    public var precision: Precision = .inputType
    /// Where bf16 products come from (tests compare the paths).
    package var bf16Path: BF16Products.Path = .automatic
    /// The forward's products that ``Precision/bf16Products`` computes in
    /// float32 from the unrounded operands: the denominator's
    /// (``ForwardProducts/denominator``). Tests and the accuracy table set
    /// others to measure what each product's rounding costs.
    package var bf16Float32Products: ForwardProducts = .denominator
    /// With chunks packed for AMX: Q·C reads C as two bfloat16 terms,
    /// bf16(C) and bf16(C − bf16(C)), so that C's rounding (2^-9 relative)
    /// drops to ~2^-17 for one more tile product per chunk.
    package var bf16TwoTermState = true

    /// Options with the given tiling and threading; every argument left
    /// out takes its default.
    public init(
        chunkSize: Int = 64, queryTile: Int = 64, keyTile: Int = 64,
        keyDimTile: Int? = nil, valueDimTile: Int? = nil,
        threads: Int? = nil, parallelism: Int? = nil, segments: Int? = nil
    ) {
        self.chunkSize = chunkSize
        self.queryTile = queryTile
        self.keyTile = keyTile
        self.keyDimTile = keyDimTile
        self.valueDimTile = valueDimTile
        self.threads = threads
        self.parallelism = parallelism
        self.segments = segments
    }

    /// The defaults: chunks of 64 tokens, the fastest measured for the
    /// inference forward.
    public static var `default`: ChunkwiseOptions { ChunkwiseOptions() }

    /// The tiling for a forward + backward: chunks of 128 tokens. Together
    /// with the training entries' default `stateStride` of 4 (a state saved
    /// every 4 chunks, the backward recomputing the others) it is the
    /// fastest measured for forward + backward on the reference machine,
    /// with half the memory of saving every state at L = 64
    /// (`Docs/log/forward-backward.md`, "Chunk size and state stride"). The stride is a parameter of
    /// ``Chunkwise/trainingForward(_:gate:initialState:eps:stateStride:options:)``
    /// and ``Chunkwise/gradients(_:gate:initialState:eps:dh:dFinalState:mode:stateStride:options:)``,
    /// not an option.
    public static var training: ChunkwiseOptions { ChunkwiseOptions(chunkSize: 128) }

    /// Checks every option; names the first invalid one.
    public func validate() throws(TFLAError) {
        for (name, value) in [("chunkSize", chunkSize), ("queryTile", queryTile), ("keyTile", keyTile)] {
            guard value >= 1 else { throw .invalidParameter(name: name, value: "\(value)", requirement: "at least 1") }
        }
        for (name, value) in [("keyDimTile", keyDimTile), ("valueDimTile", valueDimTile), ("threads", threads),
                              ("parallelism", parallelism), ("segments", segments)] {
            if let value, value < 1 { throw .invalidParameter(name: name, value: "\(value)", requirement: "at least 1") }
        }
    }
}
