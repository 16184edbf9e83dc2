/// The walk: one item of the scan carries a tile of the state through its
/// chunks, writing each chunk's outputs (`ChunkOutputKernel.swift`) and then
/// advancing the state (`ChunkStateKernel.swift`).
extension Chunkwise {
    /// Walks chunks `chunks` of one head for C's columns
    /// `column..<column+width`, from the state (c, n, stabilizer) before the
    /// first of them: writes their outputs and advances the state after
    /// each chunk (after the last one only if `advanceAfterLast`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func walkChunks<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, head: Int, chunks: Range<Int>,
        column: Int, width: Int,
        c: UnsafeMutablePointer<Scalar>, ldc: Int, n: UnsafeMutablePointer<Scalar>,
        stabilizer: inout Double, advanceAfterLast: Bool, scratch: ForwardScratch<Scalar>
    ) {
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
                packed = advanceState(context, token: token, length: length,
                                      row: 0, rows: context.shape.keyDim, column: column, width: width,
                                      c: c, ldc: ldc, n: n, scratch: scratch,
                                      packState: index + 1 < chunks.upperBound)
                stabilizer = scratch.gates.nextStabilizer
            }
        }
    }
}

