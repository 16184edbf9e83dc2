import RealModule

/// The output kernel of the chunkwise forward (`Documentation.docc/Math.md` §3, §6).
extension Chunkwise {
    /// h for tokens `token..<token+length` (one chunk), columns
    /// `column..<column+width`, from the state before the chunk — the tile
    /// of C at `c` (row stride `ldc`) and n — and from the chunk's own
    /// tokens. `scratch.gates` must hold this chunk's gates. With
    /// `packedState`, `scratch.packedState` holds this C packed by the state
    /// update (AMX products).
    static func chunkOutputs<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, length: Int, column: Int, width: Int,
        c: UnsafePointer<Scalar>, ldc: Int, n: UnsafePointer<Scalar>, scratch: ForwardScratch<Scalar>,
        packedState: Bool = false
    ) {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        let gates = scratch.gates
        let rowSum = scratch.rowSum.baseAddress
        let interDot = scratch.interDot.baseAddress
        let rowScale = scratch.rowScale.baseAddress
        let q = context.q + token * dqk
        let h = context.h + token * dhv + column
        // Inter-chunk term for the whole chunk at once (one large GEMM):
        // h_t = α_t·q_tᵀC₋ and the denominator part α_t·q_t·n₋.
        context.interProduct(length: length, width: width, q: q, c: c, ldc: ldc, h: h, ldh: dhv,
                             packedState: packedState ? UnsafePointer(scratch.packedState.baseAddress) : nil)
        context.product(.normalizer, transposeA: false, transposeB: false, m: length, n: 1, k: dqk,
                    alpha: 1, a: q, lda: dqk, b: n, ldb: 1, beta: 0, c: interDot, ldc: 1)
        scaleInterChunkRows(h, ldh: dhv, width: width, length: length, gates: gates, interDot: interDot, rowSum: rowSum)
        // Intra-chunk term, query tile by key/value tile up to the diagonal.
        let (queryTile, kvTile) = (context.tiling.query, context.tiling.kv)
        let scores = scratch.scores.baseAddress
        let shared = context.sharedScores
        if let shared {
            // Stored with the local row terms: the true weights are
            // e^{A_t − A′_t} ≤ 1 times these (1 for the sigmoid gate).
            for t in 0..<length {
                rowScale[t] = Scalar(gates.sharedScale[t])
                rowSum[t] = rowScale[t] * shared.rowSums[token + t]
            }
        }
        let chunk = context.tiling.chunk
        for rowStart in stride(from: 0, to: length, by: queryTile) {
            let rows = min(queryTile, length - rowStart)
            let rowEnd = rowStart + rows
            for keyStart in stride(from: 0, to: rowEnd, by: kvTile) {
                let keys = min(kvTile, length - keyStart)
                var weights = UnsafePointer(scores), ldw = keys
                if let shared {
                    let block = shared.scores + token * chunk + rowStart * chunk + keyStart
                    if context.gate.isStabilized {
                        for r in 0..<rows {
                            let (source, target, factor) = (block + r * chunk, scores + r * keys, rowScale[rowStart + r])
                            for j in 0..<keys { target[j] = factor * source[j] }
                        }
                    } else {
                        (weights, ldw) = (UnsafePointer(block), chunk)
                    }
                } else {
                    scoreTile(context, token: token, rowStart: rowStart, rows: rows, keyStart: keyStart, keys: keys,
                              gates: gates, localRowTerms: false,
                              into: scores, stride: keys, rowSums: rowSum)
                }
                context.product(.intra, transposeA: false, transposeB: false, m: rows, n: width, k: keys,
                            alpha: 1, a: weights, lda: ldw, b: context.v + (token + keyStart) * dhv + column, ldb: dhv,
                            beta: 1, c: h + rowStart * dhv, ldc: dhv)
            }
        }
        if column == 0, let arguments = context.denominatorArguments {
            for t in 0..<length { arguments[token + t] = rowSum[t] + interDot[t] }
        }
        if context.gate.normalizes {
            let eps = Scalar(context.eps)
            for t in 0..<length {
                let floor = Scalar(gates.denominatorFloor[t])
                let denominator = max(abs(rowSum[t] + interDot[t]), floor) + eps
                let ht = h + t * dhv
                // 0 only for eps = 0 with e^{−m_t} underflowed: see `divide`.
                guard denominator != 0 else { divide(ht, count: width, by: denominator); continue }
                let inverse = 1 / denominator
                for col in 0..<width { ht[col] *= inverse }
            }
        }
        // The non-finite check, on rows still in cache: any NaN or ±∞ among
        // q, k, v and the gates reaches some h (`Documentation.docc/Math.md`, "Non-finite
        // inputs"), so finite outputs prove finite inputs.
        if let flag = context.nonFinite {
            for t in 0..<length where !ValueCheck.allFinite(UnsafePointer(h + t * dhv), count: width) {
                flag.raise()
                break
            }
        }
    }
}
extension Chunkwise {
    /// The inter-chunk part of a chunk's rows times α_t = e^{A_t}·(…) (h's
    /// rows at row stride `ldh`, and q·n), and the rows' score sums reset:
    /// what every output kernel does between Q·C and the intra-chunk term.
    @inline(__always)
    static func scaleInterChunkRows<Scalar: KernelScalar>(
        _ h: UnsafeMutablePointer<Scalar>, ldh: Int, width: Int, length: Int, gates: ChunkGates,
        interDot: UnsafeMutablePointer<Scalar>, rowSum: UnsafeMutablePointer<Scalar>
    ) {
        for t in 0..<length {
            let alpha = Scalar(gates.interScale[t])
            let ht = h + t * ldh
            for col in 0..<width { ht[col] *= alpha }
            interDot[t] *= alpha
            rowSum[t] = 0
        }
    }

    /// One tile of decayed scores: rows `rowStart..<rowStart+rows` (queries)
    /// by columns `keyStart..<keyStart+keys` (keys) of s·QKᵀ ⊙ e^{A_t + B_j}
    /// for the chunk at `token`, masked above the diagonal, into `target`
    /// (row stride `stride`); adds each row's sum to `rowSums[t]`.
    @inline(__always)
    static func scoreTile<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, rowStart: Int, rows: Int, keyStart: Int, keys: Int,
        gates: ChunkGates, localRowTerms: Bool,
        into target: UnsafeMutablePointer<Scalar>, stride: Int, rowSums: UnsafeMutablePointer<Scalar>
    ) {
        let dqk = context.shape.keyDim
        context.product(.scores, transposeA: false, transposeB: true, m: rows, n: keys, k: dqk,
                    alpha: Scalar(context.scale), a: context.q + (token + rowStart) * dqk, lda: dqk,
                    b: context.k + (token + keyStart) * dqk, ldb: dqk,
                    beta: 0, c: target, ldc: stride)
        for r in 0..<rows {
            let t = rowStart + r
            rowSums[t] += gates.applyWeights(
                target + r * stride, count: keys, visible: max(0, min(keys, t - keyStart + 1)), keyStart: keyStart,
                query: t, rowTerm: localRowTerms ? gates.localRowTerm[t] : gates.rowTerm[t])
        }
    }
}
