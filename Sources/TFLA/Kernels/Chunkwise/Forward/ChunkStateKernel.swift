/// A tile of one head's running state that a work item carries: rows
/// `row..<row+rows` and columns `column..<column+width` of C, stored at `c`
/// with row stride `ldc`, and n's rows at `n` (nil: another item of the
/// same rows updates n).
struct StateTile<Scalar: KernelScalar> {
    let c: UnsafeMutablePointer<Scalar>
    let ldc: Int
    let n: UnsafeMutablePointer<Scalar>?
    let column: Int
    let width: Int
    var row = 0
    let rows: Int

    /// Every row of C (`rows` = DQK) for columns `column..<column+width`.
    init(c: UnsafeMutablePointer<Scalar>, ldc: Int, n: UnsafeMutablePointer<Scalar>?, column: Int, width: Int, rows: Int) {
        (self.c, self.ldc, self.n, self.column, self.width, self.rows) = (c, ldc, n, column, width, rows)
    }

    /// Rows `row..<row+rows` of C.
    init(c: UnsafeMutablePointer<Scalar>, ldc: Int, n: UnsafeMutablePointer<Scalar>?, row: Int, rows: Int,
         column: Int, width: Int) {
        self.init(c: c, ldc: ldc, n: n, column: column, width: width, rows: rows)
        self.row = row
    }
}

/// The chunk-state kernel of the chunkwise forward (`Documentation.docc/Math.md` §3, item 1;
/// the inter-chunk recurrence of §1 "Chunkwise form").
extension Chunkwise {
    /// C ← γC + (diag(w)K)ᵀV and n ← γn + Kᵀw over one chunk (tokens
    /// `token..<token+length`) for one tile of the state. `scratch.gates`
    /// must hold the chunk's gates. With `packState` (AMX products, all
    /// rows) it also leaves the new C packed in `scratch.packedState` for
    /// the next chunk's outputs, and returns whether it did.
    @discardableResult
    static func advanceState<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, length: Int, tile: StateTile<Scalar>,
        scratch: ForwardScratch<Scalar>, packState: Bool = false
    ) -> Bool {
        if context.packsChunkOperands, let tiles = scratch.chunkTiles {
            // Outside a walk (segment summaries): the gates count as packing.
            var clock = WalkClock(tiles)
            packedAdvanceState(context, token: token, length: length, tile: tile, scratch: scratch,
                               valuesPacked: false, packState: packState, clock: &clock)
            return packState
        }
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        let (row, rows, column, width, c, ldc, n) = (tile.row, tile.rows, tile.column, tile.width, tile.c, tile.ldc, tile.n)
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
        let packs = packState && context.packsState && row == 0 && rows == dqk
        context.stateProduct(rows: rows, width: width, length: length, weighted: weighted,
                             v: context.v + token * dhv + column, ldv: dhv, decay: decay, c: c, ldc: ldc,
                             packInto: packs ? scratch.packedState.baseAddress : nil)
        return packs
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
        advanceState(context, token: token, length: length,
                     tile: StateTile(c: nextC, ldc: dhv, n: nextN, column: 0, width: dhv, rows: dqk), scratch: scratch)
        return scratch.gates.nextStabilizer
    }
}
