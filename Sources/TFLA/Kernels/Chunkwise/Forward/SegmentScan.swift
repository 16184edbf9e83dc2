/// The segment-parallel scan of the chunkwise forward (`Documentation.docc/Math.md` §7).
///
/// A walk over all chunks of a head is sequential: chunk k needs the state
/// after chunk k − 1. With few heads that leaves most workers idle, so the
/// chunks are cut into segments. Each segment but the last is first
/// summarized from the empty state (its log-decay F, ΔC, Δn and Δm), all in
/// parallel; each segment's walk then composes its incoming state from the
/// initial state and the summaries before it, and writes its outputs. The
/// composition is the stabilizer rule (`StabilizerRule`), exact in real
/// arithmetic, so the result equals one walk up to rounding.
extension Chunkwise {
    /// Where a training-mode scan saves the state before every
    /// `stride`-th chunk: `slots` states per head.
    struct SaveTarget<Scalar: KernelScalar> {
        let c, n: UnsafeMutablePointer<Scalar>
        let m: UnsafeMutablePointer<Double>
        let stride: Int
        let slots: Int
    }

    /// State summaries of consecutive segments, per (segment, head) slot.
    /// Zeros when created: the empty state a summary starts from.
    struct SegmentSummaryBuffers<Scalar: KernelScalar> {
        /// ΔC `(slots, DQK, DHV)`, scaled by exp(−Δm).
        var c: Tensor<Scalar>
        /// Δn `(slots, DQK)`, scaled by exp(−Δm).
        var n: Tensor<Scalar>
        /// F: the segment's total log forget gate.
        var logDecay: Tensor<Double>
        /// Δm: the log-scale of ΔC and Δn (0 for the sigmoid gate).
        var stabilizer: Tensor<Double>

        init(slots: Int, keyDim: Int, valueDim: Int) {
            c = Tensor(shape: [slots, keyDim, valueDim])
            n = Tensor(shape: [slots, keyDim])
            logDecay = Tensor(shape: [slots])
            stabilizer = Tensor(shape: [slots])
        }

        /// Runs `body` with pointers to the summaries for writing, alive for
        /// the call.
        mutating func withPointers<R>(_ body: (SummaryPointers<Scalar>) -> R) -> R {
            withWritePointers(&c, &n, &logDecay, &stabilizer) { c, n, logDecay, stabilizer in
                body(SummaryPointers(c: c, n: n, logDecay: logDecay, stabilizer: stabilizer))
            }
        }
    }

    struct SummaryPointers<Scalar: KernelScalar> {
        let c, n: UnsafeMutablePointer<Scalar>
        let logDecay, stabilizer: UnsafeMutablePointer<Double>
    }

    /// Runs the forward of every context (one call, or the sequences of a
    /// packed batch) as its plan's scan over (call, head, segment, tile of
    /// C's columns) items; saves chunk states when `save` is given. Packed
    /// batches use one segment per sequence.
    static func scan<Scalar: KernelScalar>(_ contexts: [ForwardContext<Scalar>], save: SaveTarget<Scalar>?) {
        precondition(!contexts.isEmpty && contexts.allSatisfy { $0.initial != nil && $0.output != nil },
                     "a forward scan reads an initial state and writes h and the final state")
        precondition(save == nil || contexts.count == 1, "chunk states are saved for one call at a time")
        let first = contexts[0]
        let (heads, dqk, dhv) = (first.shape.batchHeads, first.shape.keyDim, first.shape.valueDim)
        let plan = first.plan
        precondition(!(plan.sharesScores && first.packsChunkOperands), "packed chunks compute their own scores")
        var summaries = SegmentSummaryBuffers<Scalar>(slots: (plan.segments - 1) * heads, keyDim: dqk, valueDim: dhv)
        summaries.withPointers { summary in
            guard plan.sharesScores else {
                return scan(contexts, save: save, summary: summary)
            }
            var scores = Tensor<Scalar>(uninitializedShape: [heads * first.shape.sequence, plan.chunkSize])
            var rowSums = Tensor<Scalar>(uninitializedShape: [heads * first.shape.sequence])
            scores.withWritePointer { scores in
                rowSums.withWritePointer { rowSums in
                    var context = first
                    context.sharedScores = SharedScorePointers(scores: scores, rowSums: rowSums)
                    computeSharedScores(context)
                    scan([context], save: save, summary: summary)
                }
            }
        }
    }

    /// `scan` with the summaries' buffers and, in the contexts, the shared
    /// scores.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func scan<Scalar: KernelScalar>(
        _ contexts: [ForwardContext<Scalar>], save: SaveTarget<Scalar>?, summary summaryPointers: SummaryPointers<Scalar>
    ) {
        let first = contexts[0]
        let (heads, dqk, dhv, tiling) = (first.shape.batchHeads, first.shape.keyDim, first.shape.valueDim, first.tiling)
        let tiles = first.plan.columnTiles
        let plan = first.plan.segmentPlan
        let segments = plan.count
        let summary = UnsafeSendable(summaryPointers)
        let shared = UnsafeSendable(contexts)
        let saving = UnsafeSendable(save)
        if segments > 1 {
            // 1. Summaries of all segments but the last, from the empty state.
            runPhase(
                first.plan.phase(.segmentSummaries), threads: tiling.threads,
                makeScratch: { ForwardScratch<Scalar>(shared.value[0]) }
            ) { item, scratch in
                let context = shared.value[0]
                let head = item / ((segments - 1) * tiles)
                let segment = item / tiles % (segments - 1)
                let column = item % tiles * tiling.dhv
                summarize(context, head: head, chunks: plan.chunks(of: segment, total: context.chunkCount),
                          column: column, width: min(tiling.dhv, dhv - column),
                          into: summary.value, slot: segment * heads + head, scratch: scratch)
            }
        }
        // 2. Every segment's walk from its composed incoming state.
        let perCall = heads * segments * tiles
        // The running tile of C, row-major. For the AMX walk its rows are
        // padded by one cache line: at a row stride of a multiple of 1 KB
        // the 16 rows a tile instruction loads or stores fall into one or
        // two L1 sets (`Docs/log/bf16-end-to-end.md`, "Padded rows").
        let padding = first.packsChunkOperands && tiling.dhv % 16 == 0 ? PackedChunkTiles.rowPadding : 0
        runPhase(
            first.plan.phase(.segmentWalks), threads: tiling.threads,
            makeScratch: { ForwardScratch<Scalar>(shared.value[0], memoryTile: dqk * (tiling.dhv + padding)) }
        ) { item, scratch in
            let context = shared.value[item / perCall]
            let head = item % perCall / (segments * tiles)
            let segment = item / tiles % segments
            let column = item % tiles * tiling.dhv
            let width = min(tiling.dhv, dhv - column)
            let ldc = width + padding
            let memory = head * dqk * dhv + column
            let (c, n) = (scratch.memoryTile.baseAddress, scratch.normalizer.baseAddress)
            ForwardScratch.loadInitialTile(context, offset: memory, into: c, stride: ldc, rows: dqk, width: width)
            n.update(from: context.n0 + head * dqk, count: dqk)
            var stabilizer = Double(context.m0[head])
            for earlier in 0..<segment {
                compose(summary.value, slot: earlier * heads + head, gate: context.gate, keyDim: dqk, valueDim: dhv,
                        column: column, width: width, c: c, ldc: ldc, n: n, stabilizer: &stabilizer)
            }
            let chunks = segments == 1 ? 0..<context.chunkCount : plan.chunks(of: segment, total: context.chunkCount)
            let last = segment == segments - 1
            let tile = StateTile(c: c, ldc: ldc, n: n, column: column, width: width, rows: dqk)
            guard let save = saving.value else {
                // Nothing to save between chunks: one walk, which lets the
                // state update hand each next chunk its packed C.
                walkChunks(context, head: head, chunks: chunks, tile: tile,
                           stabilizer: &stabilizer, advanceAfterLast: last, scratch: scratch)
                if last {
                    finish(context, head: head, column: column, width: width, memory: memory, c: c, ldc: ldc, n: n,
                           stabilizer: stabilizer)
                }
                return
            }
            for index in chunks {
                if index % save.stride == 0 {
                    let slot = head * save.slots + index / save.stride
                    ForwardScratch.copyTile(from: c, stride: ldc, to: save.c + slot * dqk * dhv + column,
                                            stride: dhv, rows: dqk, width: width)
                    if column == 0 {
                        (save.n + slot * dqk).update(from: n, count: dqk)
                        save.m[slot] = stabilizer
                    }
                }
                walkChunks(context, head: head, chunks: index..<index + 1, tile: tile, stabilizer: &stabilizer,
                           advanceAfterLast: last || index + 1 < chunks.upperBound, scratch: scratch)
            }
            if last {
                finish(context, head: head, column: column, width: width, memory: memory, c: c, ldc: ldc, n: n,
                       stabilizer: stabilizer)
            }
        }
    }

    /// The last segment's final state tile into the call's outputs.
    private static func finish<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, head: Int, column: Int, width: Int, memory: Int,
        c: UnsafePointer<Scalar>, ldc: Int, n: UnsafePointer<Scalar>, stabilizer: Double
    ) {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        ForwardScratch.copyTile(from: c, stride: ldc, to: context.c + memory, stride: dhv, rows: dqk, width: width)
        if column == 0 {
            (context.n + head * dqk).update(from: n, count: dqk)
            context.m[head] = Scalar(stabilizer)
        }
    }

    /// The state summary of `chunks` of one head, columns
    /// `column..<column+width`, from the empty state: C = 0, n = 0 and
    /// m = −∞ (exponential gate) or 0 (sigmoid gate). The tile of C goes to
    /// the slot's (zeroed) ΔC; the item of column 0 also writes Δn, F, Δm.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func summarize<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, head: Int, chunks: Range<Int>, column: Int, width: Int,
        into summary: SummaryPointers<Scalar>, slot: Int, scratch: ForwardScratch<Scalar>
    ) {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        let c = summary.c + slot * dqk * dhv + column
        let n = column == 0 ? summary.n + slot * dqk : nil
        var stabilizer = context.gate.isStabilized ? -Double.infinity : 0
        var logDecay = 0.0
        for index in chunks {
            let (token, length) = context.chunk(index, head: head)
            scratch.gates.compute(gate: context.gate, scale: context.scale, previousStabilizer: stabilizer,
                                  i: context.i + token, f: context.f + token, length: length)
            advanceState(context, token: token, length: length,
                         tile: StateTile(c: c, ldc: dhv, n: n, column: column, width: width, rows: dqk), scratch: scratch)
            stabilizer = scratch.gates.nextStabilizer
            logDecay += scratch.gates.logDecay
        }
        if column == 0 {
            summary.logDecay[slot] = logDecay
            summary.stabilizer[slot] = stabilizer
        }
    }

    /// Advances the state (tile `c` of row stride `ldc`, n, stabilizer)
    /// over a summarized segment: C ← e^{F+m−m′}·C + e^{Δm−m′}·ΔC, n
    /// likewise, m′ by the stabilizer rule.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func compose<Scalar: KernelScalar>(
        _ summary: SummaryPointers<Scalar>, slot: Int, gate: Gate, keyDim dqk: Int, valueDim dhv: Int,
        column: Int, width: Int, c: UnsafeMutablePointer<Scalar>, ldc: Int, n: UnsafeMutablePointer<Scalar>,
        stabilizer: inout Double
    ) {
        let rule = StabilizerRule(gate: gate, carried: summary.logDecay[slot] + stabilizer,
                                  new: summary.stabilizer[slot])
        let (carried, new) = (Scalar(rule.carriedScale), Scalar(rule.newScale))
        let deltaC = summary.c + slot * dqk * dhv + column
        for row in 0..<dqk {
            let (target, source) = (c + row * ldc, deltaC + row * dhv)
            for col in 0..<width { target[col] = carried * target[col] + new * source[col] }
        }
        let deltaN = summary.n + slot * dqk
        for d in 0..<dqk { n[d] = carried * n[d] + new * deltaN[d] }
        stabilizer = rule.stabilizer
    }
}
