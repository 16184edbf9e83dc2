/// What one segment of a sequence does to the state, whatever the state
/// before it: S_out = compose(summary, S_in) (`Documentation.docc/Math.md` §7).
///
/// With F the segment's total log forget gate and (ΔC, Δn, Δm) the state the
/// segment builds from the empty state (C = 0, n = 0, m = −∞; m ≡ 0 for the
/// sigmoid gate), the state after the segment is
///
///     m_out = max(F + m_in, Δm)                 (0 for the sigmoid gate)
///     C_out = e^{F + m_in − m_out}·C_in + e^{Δm − m_out}·ΔC,   n likewise,
///
/// exactly, for any incoming state. This is how one long sequence is split
/// across processes or machines: summarize the segments independently,
/// compose the summaries in order into each segment's incoming state, and
/// run each segment's forward from it.
public struct SegmentSummary<Scalar: TensorScalar>: Sendable {
    /// The gate the summary was computed for.
    public var gate: Gate
    /// F = Σ_t logσ(f̃_t) over the segment, `(B, NH)`.
    public var logDecay: Tensor<Double>
    /// ΔC `(B, NH, DQK, DHV)`, scaled by e^{−Δm}.
    public var c: Tensor<Scalar>
    /// Δn `(B, NH, DQK)`, scaled by e^{−Δm}.
    public var n: Tensor<Scalar>
    /// Δm, the log-scale of ΔC and Δn, `(B, NH)`; 0 for the sigmoid gate.
    public var m: Tensor<Double>
}

extension Chunkwise {
    /// The summary of a whole input sequence as one segment.
    ///
    /// Computed with the chunkwise state recurrence (chunks of
    /// `options.chunkSize`); long single-head sequences are summarized in
    /// parallel segments that are then composed. The result depends on the
    /// options only up to rounding, never on `threads`.
    ///
    /// `options.queryTile` and `options.keyTile` are ignored (the summary
    /// computes no outputs, only the state), and `precision` must be
    /// ``ChunkwiseOptions/Precision/inputType`` (bf16 products are refused
    /// with ``TFLAError/unsupported(_:)``).
    ///
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func summary<Scalar: KernelScalar>(
        of inputs: MLSTMInputs<Scalar>, gate: Gate, options: ChunkwiseOptions = .default
    ) throws(TFLAError) -> SegmentSummary<Scalar> {
        let shape = try inputs.validatedShape()
        try options.validate()
        try options.requireSupportedPrecision(Scalar.self, call: .summary)
        let plan = ChunkwisePlan(shape: shape, gate: gate, call: .summary, options: options)
        let tiling = plan.tiling
        // No output to check on the way: the inputs are scanned first.
        if options.checksValues { try inputs.validateValues(gate: gate, threads: tiling.threads) }
        let (heads, dqk, dhv) = (shape.batchHeads, shape.keyDim, shape.valueDim)
        var result = SegmentSummaryBuffers<Scalar>(slots: heads, keyDim: dqk, valueDim: dhv)
        inputs.withPointers { input in
            result.withPointers { output in
                // A state-only pass from the empty state: no initial state
                // is read and no output written.
                let context = ForwardContext(plan: plan, eps: 0, inputs: input, initial: nil, output: nil)
                summarize(context, into: output)
            }
        }
        let pair = [shape.batch, shape.heads]
        // Reshapes of matching element counts cannot fail.
        return SegmentSummary(
            gate: gate,
            logDecay: try! result.logDecay.reshaped(pair), c: try! result.c.reshaped(shape.memoryShape),
            n: try! result.n.reshaped(shape.normalizerShape), m: try! result.stabilizer.reshaped(pair))
    }

    /// The summary of every head of `context` into `output` (one slot per
    /// head), in the plan's segments, then composed when there are several.
    static func summarize<Scalar: KernelScalar>(_ context: ForwardContext<Scalar>, into outputPointers: SummaryPointers<Scalar>) {
        let (shape, tiling, gate) = (context.shape, context.tiling, context.gate)
        let (heads, dqk, dhv) = (shape.batchHeads, shape.keyDim, shape.valueDim)
        let output = UnsafeSendable(outputPointers)
        let tiles = context.plan.columnTiles
        let plan = context.plan.segmentPlan
        let shared = UnsafeSendable(context)
        if plan.count == 1 {
            runPhase(context.plan.phase(.segmentSummaries), threads: tiling.threads,
                     makeScratch: { ForwardScratch<Scalar>(shared.value) }) { item, scratch in
                let column = item % tiles * tiling.dhv
                summarize(shared.value, head: item / tiles, chunks: 0..<shared.value.chunkCount,
                          column: column, width: min(tiling.dhv, dhv - column),
                          into: output.value, slot: item / tiles, scratch: scratch)
            }
        } else {
            // Summaries of every segment in parallel, then folded in order.
            var parts = SegmentSummaryBuffers<Scalar>(slots: plan.count * heads, keyDim: dqk, valueDim: dhv)
            parts.withPointers { partPointers in
                let part = UnsafeSendable(partPointers)
                runPhase(context.plan.phase(.segmentSummaries), threads: tiling.threads,
                         makeScratch: { ForwardScratch<Scalar>(shared.value) }) { item, scratch in
                    let segment = item / tiles % plan.count
                    let column = item % tiles * tiling.dhv
                    summarize(shared.value, head: item / (plan.count * tiles),
                              chunks: plan.chunks(of: segment, total: shared.value.chunkCount),
                              column: column, width: min(tiling.dhv, dhv - column),
                              into: part.value, slot: segment * heads + item / (plan.count * tiles), scratch: scratch)
                }
                runPhase(context.plan.phase(.summaryComposition), threads: tiling.threads,
                         makeScratch: { ForwardScratch<Scalar>(shared.value, memoryTile: dqk * tiling.dhv) }) { item, scratch in
                    let head = item / tiles
                    let column = item % tiles * tiling.dhv
                    let width = min(tiling.dhv, dhv - column)
                    let (c, n) = (scratch.memoryTile.baseAddress, scratch.normalizer.baseAddress)
                    c.update(repeating: 0, count: dqk * width)
                    n.update(repeating: 0, count: dqk)
                    var stabilizer = gate.isStabilized ? -Double.infinity : 0
                    var logDecay = 0.0
                    for segment in 0..<plan.count {
                        let slot = segment * heads + head
                        compose(part.value, slot: slot, gate: gate, keyDim: dqk, valueDim: dhv,
                                column: column, width: width, c: c, ldc: width, n: n, stabilizer: &stabilizer)
                        logDecay += part.value.logDecay[slot]
                    }
                    ForwardScratch.copyTile(from: c, stride: width, to: output.value.c + head * dqk * dhv + column,
                                            stride: dhv, rows: dqk, width: width)
                    if column == 0 {
                        (output.value.n + head * dqk).update(from: n, count: dqk)
                        output.value.logDecay[head] = logDecay
                        output.value.stabilizer[head] = stabilizer
                    }
                }
            }
        }
    }

    /// The state after a summarized segment, from the state before it
    /// (zeros with m = 0 when nil, the forward's default initial state).
    ///
    /// - Throws: ``TFLAError`` when the state's shapes do not match the
    ///   summary's, or when the summary's parts disagree.
    public static func compose<Scalar: KernelScalar>(
        _ summary: SegmentSummary<Scalar>, after state: MLSTMState<Scalar>? = nil
    ) throws(TFLAError) -> MLSTMState<Scalar> {
        try Validation.requireRank(summary.c, 4, "summary.c")
        let dims = summary.c.shape
        let shape = ProblemShape(batch: dims[0], heads: dims[1], sequence: 1, keyDim: dims[2], valueDim: dims[3])
        try Validation.requireShape(summary.n, shape.normalizerShape, "summary.n")
        try Validation.requireShape(summary.logDecay, [shape.batch, shape.heads], "summary.logDecay")
        try Validation.requireShape(summary.m, [shape.batch, shape.heads], "summary.m")
        try state?.validate(for: shape, gate: summary.gate, prefix: "state ")
        var result = state ?? MLSTMState(zerosFor: shape)
        let (dqk, dhv) = (shape.keyDim, shape.valueDim)
        result.withMutablePointers { target in
            summary.withPointers { parts in
                // The kernels' composition, per head over all columns.
                for head in 0..<shape.batchHeads {
                    var stabilizer = Double(target.m[head])
                    compose(parts, slot: head, gate: summary.gate, keyDim: dqk, valueDim: dhv, column: 0, width: dhv,
                            c: target.c + head * dqk * dhv, ldc: dhv, n: target.n + head * dqk, stabilizer: &stabilizer)
                    target.m[head] = Scalar(stabilizer)
                }
            }
        }
        return result
    }
}

extension SegmentSummary where Scalar: KernelScalar {
    /// Runs `body` with pointers to the summary's parts, alive for the call;
    /// read only (the pointers are mutable only to share the kernels' type).
    func withPointers<R>(_ body: (Chunkwise.SummaryPointers<Scalar>) -> R) -> R {
        c.withReadPointer { c in
            n.withReadPointer { n in
                logDecay.withReadPointer { logDecay in
                    m.withReadPointer { m in
                        body(Chunkwise.SummaryPointers(
                            c: UnsafeMutablePointer(mutating: c), n: UnsafeMutablePointer(mutating: n),
                            logDecay: UnsafeMutablePointer(mutating: logDecay), stabilizer: UnsafeMutablePointer(mutating: m)))
                    }
                }
            }
        }
    }
}
