/// The chunk-state kernel of the chunkwise forward (`Documentation.docc/Math.md` §3, item 1;
/// the inter-chunk recurrence of §1 "Chunkwise form").
extension Chunkwise {
    /// C ← γC + (diag(w)K)ᵀV and n ← γn + Kᵀw over one chunk, for rows
    /// `row..<row+rows` and columns `column..<column+width` of C (C's tile
    /// at `c`, row stride `ldc`; n's rows at `n`). `scratch.gates` must hold
    /// the chunk's gates.
    static func advanceState<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, length: Int,
        row: Int, rows: Int, column: Int, width: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int, n: UnsafeMutablePointer<Scalar>?,
        scratch: ForwardScratch<Scalar>
    ) {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        let weighted = scratch.weightedKeys.baseAddress
        let decay = Scalar(scratch.gates.stateDecay)
        for t in 0..<length {
            let w = Scalar(scratch.gates.updateWeight[t])
            let k = context.k + (token + t) * dqk + row
            let kw = weighted + t * rows
            for d in 0..<rows { kw[d] = w * k[d] }
        }
        if let n {
            for d in 0..<rows { n[d] *= decay }
            for t in 0..<length {
                let kw = weighted + t * rows
                for d in 0..<rows { n[d] += kw[d] }
            }
        }
        context.product(.state, transposeA: true, transposeB: false, m: rows, n: width, k: length,
                    alpha: 1, a: weighted, lda: rows, b: context.v + token * dhv + column, ldb: dhv,
                    beta: decay, c: c, ldc: ldc)
    }

    /// Copies the full state before chunk `index` of `head` (`c`, `n`,
    /// stabilizer) to `nextC`, `nextN` and advances it over the chunk:
    /// the state before chunk `index + 1`, whose stabilizer it returns.
    /// How the backward pass recomputes the states between saved ones.
    static func nextChunkState<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, head: Int, index: Int,
        c: UnsafePointer<Scalar>, n: UnsafePointer<Scalar>, stabilizer: Double,
        nextC: UnsafeMutablePointer<Scalar>, nextN: UnsafeMutablePointer<Scalar>, scratch: ForwardScratch<Scalar>
    ) -> Double {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        nextC.update(from: c, count: dqk * dhv)
        nextN.update(from: n, count: dqk)
        let (token, length) = context.chunk(index, head: head)
        scratch.gates.compute(gate: context.gate, scale: context.scale, previousStabilizer: stabilizer,
                              i: context.i + token, f: context.f + token, length: length)
        advanceState(context, token: token, length: length, row: 0, rows: dqk, column: 0, width: dhv,
                     c: nextC, ldc: dhv, n: nextN, scratch: scratch)
        return scratch.gates.nextStabilizer
    }
}
