import RealModule

/// The chunkwise-parallel mLSTM with TFLA's tiling (`Docs/math.md` §1, §3).
public enum Chunkwise {}

extension Chunkwise {
    /// The forward pass: h and the final state, for either gate.
    ///
    /// The sequence is cut into chunks of `options.chunkSize` tokens (the
    /// last may be shorter). Each work item — a (batch, head, tile of C's
    /// columns) — walks its chunks in order: it forms the chunk's outputs
    /// from the state before the chunk (q̄ᵀC via GEMM) and from the chunk's
    /// own tokens (s·QKᵀ ⊙ D against V, query tile by key/value tile up to
    /// the diagonal, via GEMM), then advances its tile of the state
    /// (C ← γC + (diag(w)K)ᵀV). Work items run on `options.threads`
    /// workers; results do not depend on the thread count.
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f (see ``MLSTMInputs``).
    ///   - gate: exponential or sigmoid input gate.
    ///   - initialState: (c0, n0, m0), zeros when nil; m0 must be zero
    ///     for the sigmoid gate.
    ///   - eps: added to the denominator; finite and ≥ 0.
    ///   - options: tiling and threads.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func forward<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate,
        initialState: MLSTMState<Scalar>? = nil, eps: Scalar = 1e-6,
        options: ChunkwiseOptions = .default
    ) throws(TFLAError) -> MLSTMOutput<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try options.validate()
        try initialState?.validate(for: shape, gate: gate, prefix: "initial state ")
        let tiling = options.resolved(for: shape)
        // Work items of one head finish at different times; they must all
        // start from the initial n and m, not from the final ones that the
        // first column tile writes into `state`.
        let initial = initialState ?? MLSTMState(zerosFor: shape)
        var state = initial
        var h = Tensor<Scalar>(uninitializedShape: shape.valueShape)
        let context = ForwardContext(
            shape: shape, tiling: tiling, gate: gate, eps: Double(eps),
            q: inputs.q.readPointer, k: inputs.k.readPointer, v: inputs.v.readPointer,
            i: inputs.i.readPointer, f: inputs.f.readPointer,
            n0: initial.n.readPointer, m0: initial.m.readPointer,
            h: h.writePointer(), c: state.c.writePointer(), n: state.n.writePointer(), m: state.m.writePointer())
        runInference(context)
        return withExtendedLifetime((inputs, initial)) { MLSTMOutput(h: h, state: state) }
    }

    /// Inference mode: one item per (b, h, column tile), walking all chunks
    /// with the running state kept in the output state itself.
    static func runInference<Scalar: KernelScalar>(_ context: ForwardContext<Scalar>) {
        let tiles = (context.shape.valueDim + context.tiling.dhv - 1) / context.tiling.dhv
        let shared = UnsafeSendable(context)
        parallelFor(
            items: context.shape.batchHeads * tiles, threads: context.tiling.threads,
            makeScratch: { ForwardScratch<Scalar>(shared.value) }
        ) { item, scratch in
            let context = shared.value
            let head = item / tiles
            let column = (item % tiles) * context.tiling.dhv
            let width = min(context.tiling.dhv, context.shape.valueDim - column)
            walkChunks(context, head: head, column: column, width: width, scratch: scratch)
        }
    }

    /// Produces the outputs of all chunks of one head for C's columns
    /// `column..<column+width`, advancing that tile of the state.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func walkChunks<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, head: Int, column: Int, width: Int, scratch: ForwardScratch<Scalar>
    ) {
        let shape = context.shape
        let (s, dqk, dhv) = (shape.sequence, shape.keyDim, shape.valueDim)
        let chunk = context.tiling.chunk
        let c = context.c + head * dqk * dhv + column
        let n = scratch.normalizer
        n.baseAddress!.update(from: context.n0 + head * dqk, count: dqk)
        var stabilizer = Double(context.m0[head])
        for start in stride(from: 0, to: s, by: chunk) {
            let length = min(chunk, s - start)
            let token = head * s + start
            scratch.gates.compute(
                gate: context.gate, scale: context.scale, previousStabilizer: stabilizer,
                i: context.i + token, f: context.f + token, length: length)
            chunkOutputs(context, token: token, length: length, column: column, width: width,
                         c: c, n: UnsafePointer(n.baseAddress!), scratch: scratch)
            advanceState(context, token: token, length: length, column: column, width: width,
                         c: c, n: n.baseAddress!, scratch: scratch)
            stabilizer = scratch.gates.nextStabilizer
        }
        if column == 0 {
            (context.n + head * dqk).update(from: n.baseAddress!, count: dqk)
            context.m[head] = Scalar(stabilizer)
        }
    }

    /// h for tokens `token..<token+length` (one chunk), columns of the tile,
    /// from the state before the chunk (c, n) and the chunk's own tokens.
    static func chunkOutputs<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, length: Int, column: Int, width: Int,
        c: UnsafePointer<Scalar>, n: UnsafePointer<Scalar>, scratch: ForwardScratch<Scalar>
    ) {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        let gates = scratch.gates
        let rowSum = scratch.rowSum.baseAddress!
        let interDot = scratch.interDot.baseAddress!
        let q = context.q + token * dqk
        let h = context.h + token * dhv + column
        // Inter-chunk term for the whole chunk at once (one large GEMM):
        // h_t = α_t·q_tᵀC₋ and the denominator part α_t·q_t·n₋.
        Scalar.gemm(transposeA: false, transposeB: false, m: length, n: width, k: dqk,
                    alpha: 1, a: q, lda: dqk, b: c, ldb: dhv, beta: 0, c: h, ldc: dhv)
        Scalar.gemm(transposeA: false, transposeB: false, m: length, n: 1, k: dqk,
                    alpha: 1, a: q, lda: dqk, b: n, ldb: 1, beta: 0, c: interDot, ldc: 1)
        for t in 0..<length {
            let alpha = Scalar(gates.interScale[t])
            let ht = h + t * dhv
            for col in 0..<width { ht[col] *= alpha }
            interDot[t] *= alpha
            rowSum[t] = 0
        }
        // Intra-chunk term, query tile by key/value tile up to the diagonal.
        let (queryTile, kvTile) = (context.tiling.query, context.tiling.kv)
        let scores = scratch.scores.baseAddress!
        for rowStart in stride(from: 0, to: length, by: queryTile) {
            let rows = min(queryTile, length - rowStart)
            let rowEnd = rowStart + rows
            for keyStart in stride(from: 0, to: rowEnd, by: kvTile) {
                let keys = min(kvTile, length - keyStart)
                Scalar.gemm(transposeA: false, transposeB: true, m: rows, n: keys, k: dqk,
                            alpha: Scalar(context.scale), a: q + rowStart * dqk, lda: dqk,
                            b: context.k + (token + keyStart) * dqk, ldb: dqk,
                            beta: 0, c: scores, ldc: keys)
                for r in 0..<rows {
                    let t = rowStart + r
                    let visible = max(0, min(keys, t - keyStart + 1))
                    rowSum[t] += decayScores(
                        scores + r * keys, count: keys, visible: visible,
                        rowTerm: gates.rowTerm[t], columnTerms: gates.columnTerm.baseAddress! + keyStart)
                }
                Scalar.gemm(transposeA: false, transposeB: false, m: rows, n: width, k: keys,
                            alpha: 1, a: scores, lda: keys, b: context.v + (token + keyStart) * dhv + column, ldb: dhv,
                            beta: 1, c: h + rowStart * dhv, ldc: dhv)
            }
        }
        guard context.gate.normalizes else { return }
        let eps = Scalar(context.eps)
        for t in 0..<length {
            let floor = Scalar(gates.denominatorFloor[t])
            let inverse = 1 / (max(abs(rowSum[t] + interDot[t]), floor) + eps)
            let ht = h + t * dhv
            for col in 0..<width { ht[col] *= inverse }
        }
    }

    /// Multiplies one row of scores by its decay weights exp(A_t + B_j) for
    /// the first `visible` keys (j ≤ t), zeroes the rest, and returns the
    /// row's sum.
    @inline(__always)
    static func decayScores<Scalar: KernelScalar>(
        _ row: UnsafeMutablePointer<Scalar>, count: Int, visible: Int,
        rowTerm: Double, columnTerms: UnsafePointer<Double>
    ) -> Scalar {
        var sum: Scalar = 0
        for j in 0..<visible {
            let weight = row[j] * Scalar(Double.exp(rowTerm + columnTerms[j]))
            row[j] = weight
            sum += weight
        }
        for j in visible..<count { row[j] = 0 }
        return sum
    }

    /// C ← γC + (diag(w)K)ᵀV and n ← γn + Kᵀw over one chunk, for the tile.
    static func advanceState<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, length: Int, column: Int, width: Int,
        c: UnsafeMutablePointer<Scalar>, n: UnsafeMutablePointer<Scalar>, scratch: ForwardScratch<Scalar>
    ) {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        let weighted = scratch.weightedKeys.baseAddress!
        let decay = Scalar(scratch.gates.stateDecay)
        for d in 0..<dqk { n[d] *= decay }
        for t in 0..<length {
            let w = Scalar(scratch.gates.updateWeight[t])
            let k = context.k + (token + t) * dqk
            let kw = weighted + t * dqk
            for d in 0..<dqk {
                kw[d] = w * k[d]
                n[d] += kw[d]
            }
        }
        Scalar.gemm(transposeA: true, transposeB: false, m: dqk, n: width, k: length,
                    alpha: 1, a: weighted, lda: dqk, b: context.v + token * dhv + column, ldb: dhv,
                    beta: decay, c: c, ldc: dhv)
    }
}

/// Pointers and sizes shared by all work items of one forward call.
struct ForwardContext<Scalar: KernelScalar> {
    let shape: ProblemShape
    let tiling: ResolvedTiling
    let gate: Gate
    let eps: Double
    let scale: Double
    let q, k, v, i, f: UnsafePointer<Scalar>
    /// The initial normalizer and stabilizer (C starts in `c` itself).
    let n0, m0: UnsafePointer<Scalar>
    /// Outputs: h and the final state.
    let h, c, n, m: UnsafeMutablePointer<Scalar>

    init(shape: ProblemShape, tiling: ResolvedTiling, gate: Gate, eps: Double,
         q: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>,
         i: UnsafePointer<Scalar>, f: UnsafePointer<Scalar>,
         n0: UnsafePointer<Scalar>, m0: UnsafePointer<Scalar>,
         h: UnsafeMutablePointer<Scalar>, c: UnsafeMutablePointer<Scalar>,
         n: UnsafeMutablePointer<Scalar>, m: UnsafeMutablePointer<Scalar>) {
        self.shape = shape
        self.tiling = tiling
        self.gate = gate
        self.eps = eps
        self.scale = 1 / Double(shape.keyDim).squareRoot()
        (self.q, self.k, self.v, self.i, self.f) = (q, k, v, i, f)
        (self.n0, self.m0) = (n0, m0)
        (self.h, self.c, self.n, self.m) = (h, c, n, m)
    }
}

/// One worker's scratch, sized once for the largest chunk and tile.
final class ForwardScratch<Scalar: KernelScalar> {
    var gates: ChunkGates
    let scores: UnsafeMutableBufferPointer<Scalar>
    let weightedKeys: UnsafeMutableBufferPointer<Scalar>
    let normalizer: UnsafeMutableBufferPointer<Scalar>
    let rowSum: UnsafeMutableBufferPointer<Scalar>
    let interDot: UnsafeMutableBufferPointer<Scalar>

    init(_ context: ForwardContext<Scalar>) {
        let tiling = context.tiling
        gates = ChunkGates(capacity: tiling.chunk)
        scores = .allocateCounted(capacity: tiling.query * tiling.kv)
        weightedKeys = .allocateCounted(capacity: tiling.chunk * context.shape.keyDim)
        normalizer = .allocateCounted(capacity: context.shape.keyDim)
        rowSum = .allocateCounted(capacity: tiling.chunk)
        interDot = .allocateCounted(capacity: tiling.chunk)
    }

    deinit {
        gates.deallocate()
        for buffer in [scores, weightedKeys, normalizer, rowSum, interDot] { buffer.deallocate() }
    }
}
