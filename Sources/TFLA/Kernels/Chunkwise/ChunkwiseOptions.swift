/// Tiling and threading of the chunkwise (TFLA) kernels.
///
/// Every valid choice computes the same function up to rounding; the
/// defaults are the fastest measured on the reference machine (see
/// `Docs/performance.md`).
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
    /// (`Docs/performance.md`). The stride is a parameter of
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

    /// The tile sizes in force for a problem: options clipped to the
    /// problem's dimensions (the state stride of a training call to the
    /// chunk count, so that no argument beyond the problem sizes an
    /// allocation), automatic choices resolved.
    func resolved(for shape: ProblemShape, stateStride: Int = 1) -> ResolvedTiling {
        let chunk = min(chunkSize, shape.sequence)
        let chunks = (shape.sequence + chunk - 1) / chunk
        let workers = min(parallelism ?? Workers.defaultCount, Workers.maximumCount)
        let dhv = min(valueDimTile ?? Self.automaticValueTile(for: shape, parallelism: workers), shape.valueDim)
        let phaseColumns = min(valueDimTile ?? Self.columnSplit(for: shape, parallelism: workers), shape.valueDim)
        return ResolvedTiling(
            chunk: chunk,
            query: min(queryTile, chunk),
            kv: min(keyTile, chunk),
            dqk: min(keyDimTile ?? shape.keyDim, shape.keyDim),
            dhv: dhv,
            phaseColumns: phaseColumns,
            stateStride: min(stateStride, chunks),
            threads: min(threads ?? Workers.defaultCount, Workers.maximumCount),
            parallelism: workers,
            segments: segments)
    }

    /// Work items per planned worker that the automatic decomposition aims
    /// for, so that uneven items still balance out.
    static var itemsPerWorker: Int { 4 }

    /// The items the automatic decomposition aims for: none beyond one per
    /// head for a single worker (splitting only adds work there).
    static func targetItems(parallelism: Int) -> Int {
        parallelism <= 1 ? 1 : parallelism * itemsPerWorker
    }

    /// Splits C's columns (down to 64) until there are `itemsPerWorker`
    /// items per planned worker. A single head is the exception: its
    /// columns stay whole and sequence segments make all the items, because
    /// on one head narrow tiles cost more than segments do (measured on 2 to
    /// 16 threads: whole columns 18–38 % faster than 64-column tiles,
    /// `Docs/performance.md`, "Run 9"). Depends on the shape and the planned
    /// parallelism, never on the thread count.
    static func automaticValueTile(for shape: ProblemShape, parallelism: Int) -> Int {
        shape.batchHeads == 1 ? shape.valueDim : columnSplit(for: shape, parallelism: parallelism)
    }

    /// C's columns halved (down to 64) until there are `itemsPerWorker`
    /// items per planned worker, one head or many.
    static func columnSplit(for shape: ProblemShape, parallelism: Int) -> Int {
        let target = targetItems(parallelism: parallelism)
        var tile = shape.valueDim
        while shape.batchHeads * ((shape.valueDim + tile - 1) / tile) < target, tile >= 128 {
            tile = (tile + 1) / 2
        }
        return tile
    }
}

/// Tile sizes in force for one problem.
struct ResolvedTiling {
    var chunk: Int
    var query: Int
    var kv: Int
    var dqk: Int
    var dhv: Int
    /// Columns per item of the single-head backward's state-gradient phase
    /// (`PhasedBackward.swift`): split like several heads' forward, since
    /// that phase has no segments to make items from.
    var phaseColumns: Int
    /// A training forward or a backward: every `stateStride`-th chunk state
    /// is kept (at most the chunk count; 1 for the inference forward).
    var stateStride: Int
    var threads: Int
    /// The worker count the decomposition is planned for.
    var parallelism: Int
    /// Requested sequence segments (nil: automatic).
    var segments: Int?

    /// The segments of a scan over `chunks` chunks with `items` items per
    /// segment: as requested, or enough for `itemsPerWorker` items per
    /// planned worker; each segment a whole number of `alignment` chunks
    /// (the saved-state stride in training mode), at least two of them.
    func segmentPlan(chunks: Int, items: Int, alignment: Int = 1) -> SegmentPlan {
        let target = ChunkwiseOptions.targetItems(parallelism: parallelism)
        let wanted = segments ?? (items >= target ? 1 : (target + items - 1) / items)
        let runs = (chunks + alignment - 1) / alignment
        let count = max(1, min(wanted, segments == nil ? runs / 2 : runs))
        let length = (runs + count - 1) / count * alignment
        return SegmentPlan(chunksPerSegment: length, count: (chunks + length - 1) / length)
    }
}

/// How a scan cuts the chunks of a sequence into consecutive segments.
struct SegmentPlan {
    var chunksPerSegment: Int
    var count: Int

    func chunks(of segment: Int, total: Int) -> Range<Int> {
        segment * chunksPerSegment..<min((segment + 1) * chunksPerSegment, total)
    }
}
