/// Tiling and threading of the chunkwise (TFLA) kernels.
///
/// Every valid choice computes the same function up to rounding; the
/// defaults are the fastest measured on the reference machine (see
/// `Docs/performance.md`). For a fixed choice of options the result is
/// bit-identical for any number of threads.
public struct ChunkwiseOptions: Sendable, Hashable {
    /// What the forward pass keeps besides h and the final state.
    public enum Mode: Sendable, Hashable {
        /// Keep only the running state per head: memory independent of S
        /// apart from inputs and outputs.
        case inference
        /// Also keep the chunk states every `stateStride` chunks, for the
        /// backward pass.
        case training
    }

    /// Tokens per chunk, L ≥ 1. The last chunk may be shorter.
    public var chunkSize: Int
    /// Query rows per output tile inside a chunk.
    public var queryTile: Int
    /// Key/value rows per tile of the intra-chunk product.
    public var kvTile: Int
    /// Rows of C per state-kernel tile (nil: all of DQK).
    public var dqkTile: Int?
    /// Columns of C and h per work item (nil: chosen from the shape).
    public var dhvTile: Int?
    /// Keep every `stateStride`-th chunk state in training mode (≥ 1).
    public var stateStride: Int
    /// Worker threads (nil: the cores this process may use).
    public var threads: Int?
    /// Inference or training.
    public var mode: Mode

    public init(
        chunkSize: Int = 64, queryTile: Int = 64, kvTile: Int = 64,
        dqkTile: Int? = nil, dhvTile: Int? = nil, stateStride: Int = 1,
        threads: Int? = nil, mode: Mode = .inference
    ) {
        self.chunkSize = chunkSize
        self.queryTile = queryTile
        self.kvTile = kvTile
        self.dqkTile = dqkTile
        self.dhvTile = dhvTile
        self.stateStride = stateStride
        self.threads = threads
        self.mode = mode
    }

    /// The defaults (inference mode).
    public static var `default`: ChunkwiseOptions { ChunkwiseOptions() }

    /// The defaults for a forward + backward: training mode, chunks of 128
    /// tokens, a state saved every 4 chunks (the backward recomputes the
    /// others). Fastest measured for forward + backward on the reference
    /// machine, with half the memory of saving every state at L = 64
    /// (`Docs/performance.md`).
    public static var training: ChunkwiseOptions { ChunkwiseOptions(chunkSize: 128, stateStride: 4, mode: .training) }

    /// Checks every option; names the first invalid one.
    public func validate() throws(TFLAError) {
        for (name, value) in [("chunkSize", chunkSize), ("queryTile", queryTile), ("kvTile", kvTile), ("stateStride", stateStride)] {
            guard value >= 1 else { throw .invalidParameter(name: name, value: "\(value)", requirement: "at least 1") }
        }
        for (name, value) in [("dqkTile", dqkTile), ("dhvTile", dhvTile), ("threads", threads)] {
            if let value, value < 1 { throw .invalidParameter(name: name, value: "\(value)", requirement: "at least 1") }
        }
    }

    /// The tile sizes in force for a problem: options clipped to the
    /// problem's dimensions, automatic choices resolved.
    func resolved(for shape: ProblemShape) -> ResolvedTiling {
        let chunk = min(chunkSize, shape.sequence)
        let dhv = min(dhvTile ?? Self.automaticValueTile(for: shape), shape.valueDim)
        return ResolvedTiling(
            chunk: chunk,
            query: min(queryTile, chunk),
            kv: min(kvTile, chunk),
            dqk: min(dqkTile ?? shape.keyDim, shape.keyDim),
            dhv: dhv,
            threads: threads ?? Workers.defaultCount)
    }

    /// Splits C's columns only when there are too few heads to keep a few
    /// workers busy. Depends on the shape alone, never on the thread count,
    /// so that results do not change with the number of threads.
    static func automaticValueTile(for shape: ProblemShape) -> Int {
        var tile = shape.valueDim
        while shape.batchHeads * ((shape.valueDim + tile - 1) / tile) < 8, tile >= 128 {
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
    var threads: Int
}
