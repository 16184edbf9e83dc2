/// The intra-chunk scores S̄ = s·QKᵀ ⊙ D of every chunk, computed once per
/// (head, chunk) and shared by every tile of C's columns.
///
/// When C's columns are split into T tiles for more parallelism, each tile
/// needs the same scores; computing them per tile repeats 2·L²·DQK flops
/// per chunk T times (37 % more work at T = 8 for the 7B head). Computed
/// once, they depend on the state before the chunk only through a row
/// factor: with the local row term A′_t (as if that state were empty) the
/// true weights are e^{A_t − A′_t} ≤ 1 times the stored ones
/// (`Documentation.docc/Math.md` §7), which the walk applies when it reads them. The
/// scores of chunk k start at flat token index × L (rows of L entries);
/// the row sums of the stored scores are kept per token.
struct SharedScorePointers<Scalar: KernelScalar> {
    let scores: UnsafeMutablePointer<Scalar>
    let rowSums: UnsafeMutablePointer<Scalar>
}

extension Chunkwise {
    /// Computes every chunk's scores and row sums: one item per (head, chunk).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func computeSharedScores<Scalar: KernelScalar>(_ context: ForwardContext<Scalar>) {
        let shared = UnsafeSendable(context)
        runPhase(
            context.plan.phase(.sharedScores), threads: context.tiling.threads,
            makeScratch: { ForwardScratch<Scalar>(shared.value) }
        ) { item, scratch in
            let context = shared.value
            let (token, length) = context.chunk(item % context.chunkCount, head: item / context.chunkCount)
            chunkScores(context, token: token, length: length, scratch: scratch)
        }
    }

    /// One chunk's decayed scores, query tile by key/value tile up to the
    /// diagonal, weighted with the local row terms.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func chunkScores<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, length: Int, scratch: ForwardScratch<Scalar>
    ) {
        guard let target = context.sharedScores else { return }
        let chunk = context.tiling.chunk
        scratch.gates.compute(gate: context.gate, scale: context.scale,
                              previousStabilizer: context.gate.isStabilized ? -.infinity : 0,
                              i: context.i + token, f: context.f + token, length: length)
        let gates = scratch.gates
        let block = target.scores + token * chunk
        let rowSums = target.rowSums + token
        for t in 0..<length { rowSums[t] = 0 }
        let (queryTile, kvTile) = (context.tiling.query, context.tiling.kv)
        for rowStart in stride(from: 0, to: length, by: queryTile) {
            let rows = min(queryTile, length - rowStart)
            for keyStart in stride(from: 0, to: rowStart + rows, by: kvTile) {
                let keys = min(kvTile, length - keyStart)
                scoreTile(context, token: token, rowStart: rowStart, rows: rows, keyStart: keyStart, keys: keys,
                          gates: gates, localRowTerms: true,
                          into: block + rowStart * chunk + keyStart, stride: chunk, rowSums: rowSums)
            }
        }
    }
}
