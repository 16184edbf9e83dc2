/// The planner: the one place that decides how a chunkwise call is cut into
/// work items. Every decision depends on the shape, the options and the
/// planned worker count, never on the thread count, so that results stay
/// bit-identical for any number of threads.
extension Chunkwise {
    /// The plan of a call: its phases and their work items, as the entry
    /// point computes it. For a backward, pass the training forward's chunk
    /// size (in `options`) and state stride; a packed gradient call plans
    /// each sequence as a training forward and a backward of its own.
    ///
    /// - Parameters:
    ///   - shape: the problem's dimensions.
    ///   - gate: the input gate.
    ///   - call: which entry the plan is for.
    ///   - stateStride: training and backward: keep every `stateStride`-th
    ///     chunk state (ignored by the other calls).
    ///   - sequences: packed calls: the number of sequences.
    ///   - options: tiling and the planned worker count
    ///     (``ChunkwiseOptions/parallelism``).
    /// - Throws: ``TFLAError`` when an option, the stride or a dimension is
    ///   invalid.
    public static func plan(
        for shape: ProblemShape, gate: Gate, call: ChunkwiseCall, stateStride: Int = 4, sequences: Int = 1,
        options: ChunkwiseOptions
    ) throws(TFLAError) -> ChunkwisePlan {
        try options.validate()
        try options.requireSupportedPrecision(Float.self, call: call)
        for (name, value) in [("B", shape.batch), ("NH", shape.heads), ("S", shape.sequence),
                              ("DQK", shape.keyDim), ("DHV", shape.valueDim), ("stateStride", stateStride),
                              ("sequences", sequences)] where value < 1 {
            throw .invalidParameter(name: name, value: "\(value)", requirement: "at least 1")
        }
        return ChunkwisePlan(shape: shape, gate: gate, call: call, stateStride: stateStride, sequences: sequences,
                             options: options)
    }
}

extension ChunkwisePlan {
    /// Work items per planned worker that the automatic decomposition aims
    /// for, so that uneven items still balance out.
    static var itemsPerWorker: Int { 4 }

    /// Items per (head, segment, column tile) from which the training
    /// forward scans the chunks instead of running the chunk-state kernel
    /// and then the outputs (measured, `Docs/log/optimisation.md`, "Entry 8").
    static var walkingItemsThreshold: Int { 8 }

    /// The plan of a validated call (the entries validate their arguments first).
    init(shape: ProblemShape, gate: Gate, call: ChunkwiseCall, stateStride: Int = 1, sequences: Int = 1,
         options: ChunkwiseOptions) {
        let keepsStates = call == .training || call == .backward
        let tiling = Self.resolve(options, for: shape, stateStride: keepsStates ? stateStride : 1, call: call)
        let heads = shape.batchHeads
        let chunks = (shape.sequence + tiling.chunk - 1) / tiling.chunk
        let tiles = (shape.valueDim + tiling.dhv - 1) / tiling.dhv
        let columns = "\(tiling.dhv) columns"
        var phases: [Phase] = []
        var segmentPlan = SegmentPlan(chunksPerSegment: chunks, count: 1)
        var sharesScores = false
        let strategy: Strategy

        func add(_ kind: PhaseKind, _ items: Int, _ item: String) {
            phases.append(Phase(kind: kind, items: items, item: item))
        }
        /// The forward scan: shared scores, summaries, walks.
        func scan(alignment: Int) {
            segmentPlan = tiling.segmentPlan(chunks: chunks, items: heads * tiles, alignment: alignment)
            // Shared only while the columns are split and the scores (S·L per
            // head) take no more memory than v (S·DHV).
            // Not with chunk operands packed once: each item's scores come
            // from its packed q and k, cheaper than reading shared ones.
            sharesScores = tiles > 1 && tiling.chunk <= shape.valueDim && !options.productKernel.packsChunkOperands
            let segments = segmentPlan.count
            if sharesScores { add(.sharedScores, heads * chunks, "head × chunk") }
            if segments > 1 {
                add(.segmentSummaries, heads * (segments - 1) * tiles,
                    "head × segment (\(segmentPlan.chunksPerSegment) chunks) × \(columns)")
            }
            add(.segmentWalks, heads * segments * tiles,
                segments == 1 ? "head × \(chunks) chunks × \(columns)"
                              : "head × segment (\(segmentPlan.chunksPerSegment) chunks) × \(columns)")
        }

        switch call {
        case .inference:
            strategy = .scan
            scan(alignment: 1)
        case .packed where sequences == 1:
            strategy = .scan
            scan(alignment: 1)
        case .packed:
            // One segment per sequence: the sequences make the items.
            strategy = .scan
            add(.segmentWalks, sequences * heads * tiles, "sequence × head × \(columns)")
        case .training:
            let stride = tiling.stateStride
            let aligned = tiling.segmentPlan(chunks: chunks, items: heads * tiles, alignment: stride)
            if heads * tiles * aligned.count >= Self.walkingItemsThreshold {
                strategy = .scan
                scan(alignment: stride)
            } else {
                strategy = .statesThenOutputs
                let rowTiles = (shape.keyDim + tiling.dqk - 1) / tiling.dqk
                let runs = (chunks + stride - 1) / stride
                add(.chunkStates, heads * rowTiles * tiles, "head × \(tiling.dqk) rows × \(columns), all chunks")
                add(.runOutputs, heads * runs * tiles, "head × run (\(stride) chunks) × \(columns)")
            }
        case .backward:
            let stride = tiling.stateStride
            let runs = (chunks + stride - 1) / stride
            // Blocks of saved runs, planned like a scan's segments over the heads.
            let blocks = tiling.segmentPlan(chunks: runs, items: heads)
            if heads >= 2 && blocks.count > 1 {
                strategy = .blocks
                segmentPlan = blocks
                add(.blockSummaries, heads * (blocks.count - 1), "head × block (\(blocks.chunksPerSegment) runs)")
                add(.blockWalks, heads * blocks.count, "head × block (\(blocks.chunksPerSegment) runs)")
                add(.gateGradients, heads, "head")
            } else if heads >= 2 {
                // One item per head: on 16 cores the phases were slower than
                // this walk even at 8 heads (`Docs/log/many-cores.md`, "Step 5").
                strategy = .headWalks
                segmentPlan = SegmentPlan(chunksPerSegment: runs, count: 1)
                add(.headWalks, heads, "head, \(chunks) chunks")
            } else {
                strategy = .phases
                segmentPlan = SegmentPlan(chunksPerSegment: runs, count: 1)
                let phaseTiles = (shape.valueDim + tiling.phaseColumns - 1) / tiling.phaseColumns
                if stride != 1 { add(.states, heads * runs, "head × run (\(stride) chunks)") }
                add(.stateGradients, heads * phaseTiles, "head × \(tiling.phaseColumns) columns, all chunks")
                add(.chunkGradients, heads * chunks, "head × chunk")
                add(.gateGradients, heads, "head")
            }
        case .summary:
            strategy = .summary
            segmentPlan = tiling.segmentPlan(chunks: chunks, items: heads * tiles)
            let segments = segmentPlan.count
            add(.segmentSummaries, heads * segments * tiles,
                "head × segment (\(segmentPlan.chunksPerSegment) chunks) × \(columns)")
            if segments > 1 { add(.summaryComposition, heads * tiles, "head × \(columns)") }
        }
        self.call = call
        self.shape = shape
        self.gate = gate
        self.strategy = strategy
        self.chunks = chunks
        self.sharesScores = sharesScores
        self.sequences = call == .packed ? sequences : 1
        self.phases = phases
        self.tiling = tiling
        self.segmentPlan = segmentPlan
    }

    /// The tile sizes in force for a problem: options clipped to the
    /// problem's dimensions (the state stride to the chunk count, so that
    /// no argument beyond the problem sizes an allocation), automatic
    /// choices resolved.
    static func resolve(_ options: ChunkwiseOptions, for shape: ProblemShape, stateStride: Int = 1,
                        call: ChunkwiseCall = .inference) -> ResolvedTiling {
        let chunk = min(options.chunkSize, shape.sequence)
        let chunks = (shape.sequence + chunk - 1) / chunk
        let workers = min(options.parallelism ?? Workers.defaultCount, Workers.maximumCount)
        // Chunks packed once for AMX: every column tile repacks q and k and
        // recomputes the scores, and a segment summary repeats the state
        // updates, the bulk of that work; so columns stay at least 256 wide
        // and one item per worker is the target (measured on 16 threads,
        // `Docs/log/bf16-end-to-end.md`, "Plan for the matrix units").
        let packed = options.productKernel.packsChunkOperands
        var perWorker = packed ? 1 : itemsPerWorker
        var automatic = packed ? columnSplit(for: shape, parallelism: workers, perWorker: 1, narrowest: 256)
                               : automaticValueTile(for: shape, parallelism: workers)
        // The forward walk of several heads: every column tile reads its
        // head's q and k in full, so tiles of 64 read them 8 times at
        // DHV = 512; columns stay 128 wide where that still makes 2 items
        // per worker (16 workers, 8 heads: 4 reads; measured 3–17 % faster,
        // the training forward 17 %: `Docs/log/bf16-end-to-end.md`,
        // "float32 at 16 threads: 128-column items"). The training forward
        // follows, so that its h keeps the inference forward's bits.
        if !packed, call == .inference || call == .training, options.valueDimTile == nil, shape.batchHeads > 1,
           shape.valueDim >= 512, automatic < 128 {
            let wide = columnSplit(for: shape, parallelism: workers, perWorker: 2, narrowest: 128)
            if wide >= 128, shape.batchHeads * ((shape.valueDim + wide - 1) / wide) >= 2 * workers {
                (automatic, perWorker) = (wide, 2)
            }
        }
        let dhv = min(options.valueDimTile ?? automatic, shape.valueDim)
        let phaseColumns = min(options.valueDimTile ?? columnSplit(for: shape, parallelism: workers), shape.valueDim)
        return ResolvedTiling(
            chunk: chunk,
            query: min(options.queryTile, chunk),
            kv: min(options.keyTile, chunk),
            dqk: min(options.keyDimTile ?? shape.keyDim, shape.keyDim),
            dhv: dhv,
            phaseColumns: phaseColumns,
            stateStride: min(stateStride, chunks),
            threads: min(options.threads ?? Workers.defaultCount, Workers.maximumCount),
            parallelism: workers,
            itemsPerWorker: perWorker,
            segments: options.segments)
    }

    /// The items the automatic decomposition aims for: none beyond one per
    /// head for a single worker (splitting only adds work there).
    static func targetItems(parallelism: Int, perWorker: Int = itemsPerWorker) -> Int {
        parallelism <= 1 ? 1 : parallelism * perWorker
    }

    /// Splits C's columns (down to 64) until there are `itemsPerWorker`
    /// items per planned worker. A single head is the exception: its
    /// columns stay whole and sequence segments make all the items, because
    /// on one head narrow tiles cost more than segments do (measured on 2 to
    /// 16 threads: whole columns 18–38 % faster than 64-column tiles,
    /// `Docs/log/many-cores.md`, "Run 9").
    static func automaticValueTile(for shape: ProblemShape, parallelism: Int) -> Int {
        shape.batchHeads == 1 ? shape.valueDim : columnSplit(for: shape, parallelism: parallelism)
    }

    /// C's columns halved (down to 64) until there are `itemsPerWorker`
    /// items per planned worker, one head or many.
    static func columnSplit(for shape: ProblemShape, parallelism: Int, perWorker: Int = itemsPerWorker,
                            narrowest: Int = 64) -> Int {
        let target = targetItems(parallelism: parallelism, perWorker: perWorker)
        var tile = shape.valueDim
        while shape.batchHeads * ((shape.valueDim + tile - 1) / tile) < target, tile >= 2 * narrowest {
            tile = (tile + 1) / 2
        }
        return tile
    }
}

extension ChunkwiseOptions {
    /// The tile sizes these options resolve to for a problem, as the
    /// planner resolves them: for sizing a call's memory before it runs.
    func resolved(for shape: ProblemShape, stateStride: Int = 1, call: ChunkwiseCall = .inference) -> ResolvedTiling {
        ChunkwisePlan.resolve(self, for: shape, stateStride: stateStride, call: call)
    }
}

/// Tile sizes in force for one problem.
struct ResolvedTiling: Hashable {
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
    /// is kept (at most the chunk count; 1 for the other calls).
    var stateStride: Int
    var threads: Int
    /// The worker count the decomposition is planned for.
    var parallelism: Int
    /// Items per planned worker the automatic decomposition aims for.
    var itemsPerWorker: Int
    /// Requested sequence segments (nil: automatic).
    var segments: Int?

    /// The segments of a scan over `chunks` chunks with `items` items per
    /// segment: as requested, or enough for `itemsPerWorker` items per
    /// planned worker; each segment a whole number of `alignment` chunks
    /// (the saved-state stride in training mode), at least two of them.
    func segmentPlan(chunks: Int, items: Int, alignment: Int = 1) -> SegmentPlan {
        let target = ChunkwisePlan.targetItems(parallelism: parallelism, perWorker: itemsPerWorker)
        let wanted = segments ?? (items >= target ? 1 : (target + items - 1) / items)
        let runs = (chunks + alignment - 1) / alignment
        let count = max(1, min(wanted, segments == nil ? runs / 2 : runs))
        let length = (runs + count - 1) / count * alignment
        return SegmentPlan(chunksPerSegment: length, count: (chunks + length - 1) / length)
    }
}

/// How a scan cuts the chunks of a sequence into consecutive segments.
struct SegmentPlan: Hashable {
    var chunksPerSegment: Int
    var count: Int

    func chunks(of segment: Int, total: Int) -> Range<Int> {
        segment * chunksPerSegment..<min((segment + 1) * chunksPerSegment, total)
    }
}
