/// The walk: one item of the scan carries a tile of the state through its
/// chunks, writing each chunk's outputs (`ChunkOutputKernel.swift`) and then
/// advancing the state (`ChunkStateKernel.swift`).
extension Chunkwise {
    /// Walks chunks `chunks` of one head for the state tile `tile` (all
    /// rows of C, with n), from the state (tile, stabilizer) before the
    /// first of them: writes their outputs and advances the state after
    /// each chunk (after the last one only if `advanceAfterLast`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func walkChunks<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, head: Int, chunks: Range<Int>, tile: StateTile<Scalar>,
        stabilizer: inout Double, advanceAfterLast: Bool, scratch: ForwardScratch<Scalar>
    ) {
        guard let n = tile.n, tile.row == 0, tile.rows == context.shape.keyDim else {
            preconditionFailure("a walk carries every row of C and n")
        }
        if context.packsChunkOperands {
            return walkPackedChunks(context, head: head, chunks: chunks, tile: tile, stabilizer: &stabilizer,
                                    advanceAfterLast: advanceAfterLast, scratch: scratch)
        }
        let (column, width, c, ldc) = (tile.column, tile.width, tile.c, tile.ldc)
        // Whether scratch.packedState holds C: only after this walk's own
        // state update, the one place that changes C within the walk.
        var packed = false
        for index in chunks {
            let (token, length) = context.chunk(index, head: head)
            scratch.gates.compute(
                gate: context.gate, scale: context.scale, previousStabilizer: stabilizer,
                i: context.i + token, f: context.f + token, length: length)
            chunkOutputs(context, token: token, length: length, column: column, width: width,
                         c: c, ldc: ldc, n: n, scratch: scratch, packedState: packed)
            if index + 1 < chunks.upperBound || advanceAfterLast {
                // The last update of a walk has no next chunk to pack for.
                packed = advanceState(context, token: token, length: length, tile: tile, scratch: scratch,
                                      packState: index + 1 < chunks.upperBound)
                stabilizer = scratch.gates.nextStabilizer
            }
        }
    }
}

