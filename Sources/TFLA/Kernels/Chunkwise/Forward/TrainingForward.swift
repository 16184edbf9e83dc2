/// The training forward: the outputs and the chunk states a backward needs.
extension Chunkwise {
    /// The training forward as its plan says: the scan of inference mode,
    /// copying the running state out every `stride` chunks, or (few items:
    /// few heads, short sequences) the chunk-state kernel first and then the
    /// outputs of every run of chunks.
    static func runTraining<Scalar: KernelScalar>(_ context: ForwardContext<Scalar>) -> MLSTMChunkStates<Scalar> {
        var context = context
        let shape = context.shape
        let (dqk, dhv, tiling) = (shape.keyDim, shape.valueDim, context.tiling)
        let stride = tiling.stateStride
        let segments = (context.chunkCount + stride - 1) / stride
        var c = Tensor<Scalar>(uninitializedShape: [shape.batch, shape.heads, segments, dqk, dhv])
        var n = Tensor<Scalar>(uninitializedShape: [shape.batch, shape.heads, segments, dqk])
        var m = Tensor<Double>(uninitializedShape: [shape.batch, shape.heads, segments])
        var denominatorArguments = Tensor<Scalar>(uninitializedShape: shape.gateShape)
        withWritePointers(&c, &n, &m, &denominatorArguments) { c, n, m, z in
            context.denominatorArguments = z
            switch context.plan.strategy {
            case .scan: scan([context], save: SaveTarget(c: c, n: n, m: m, stride: stride, slots: segments))
            case .statesThenOutputs: statesThenOutputs(context, segments: segments, saved: UnsafeSendable((c, n, m)))
            default: preconditionFailure("a training plan scans or runs states then outputs")
            }
        }
        return MLSTMChunkStates(stride: stride, chunkSize: tiling.chunk, c: c, n: n, m: m,
                           denominatorArguments: denominatorArguments)
    }

    typealias SavedPointers<Scalar> = UnsafeSendable<(UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<Double>)>

    /// Training mode as the chunk-state kernel followed by the output kernel.
    static func statesThenOutputs<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, segments: Int, saved savedPointers: SavedPointers<Scalar>
    ) {
        let stride = context.tiling.stateStride
        precondition(context.initial != nil && context.output != nil, "training mode reads an initial state and writes outputs")
        precondition(stride >= 1 && segments * stride >= context.chunkCount, "a saved state for every run of chunks")
        let shape = context.shape
        let (dqk, dhv, tiling) = (shape.keyDim, shape.valueDim, context.tiling)
        let shared = UnsafeSendable(context)

        // 1. Chunk states: items per (head, row tile, column tile) of C,
        // sequential over chunks, saving the state before every stride-th.
        let rowTiles = (dqk + tiling.dqk - 1) / tiling.dqk
        let columnTiles = (dhv + tiling.dhv - 1) / tiling.dhv
        runPhase(
            context.plan.phase(.chunkStates), threads: tiling.threads,
            makeScratch: { ForwardScratch<Scalar>(shared.value) }
        ) { item, scratch in
            let context = shared.value
            let (savedC, savedN, savedM) = savedPointers.value
            let head = item / (rowTiles * columnTiles)
            let row = (item / columnTiles % rowTiles) * tiling.dqk
            let column = item % columnTiles * tiling.dhv
            let (rows, width) = (min(tiling.dqk, dqk - row), min(tiling.dhv, dhv - column))
            let c = context.c + head * dqk * dhv + row * dhv + column
            ForwardScratch.loadInitialTile(context, offset: head * dqk * dhv + row * dhv + column, into: c, stride: dhv,
                                           rows: rows, width: width)
            let n = scratch.normalizer.baseAddress
            n.update(from: context.n0 + head * dqk + row, count: rows)
            let ownsNormalizer = column == 0
            var stabilizer = Double(context.m0[head])
            for index in 0..<context.chunkCount {
                if index % stride == 0 {
                    let slot = head * segments + index / stride
                    ForwardScratch.copyTile(from: c, stride: dhv, to: savedC + (slot * dqk + row) * dhv + column,
                                            stride: dhv, rows: rows, width: width)
                    if ownsNormalizer { (savedN + slot * dqk + row).update(from: n, count: rows) }
                    if ownsNormalizer && row == 0 { savedM[slot] = stabilizer }
                }
                let (token, length) = context.chunk(index, head: head)
                scratch.gates.compute(
                    gate: context.gate, scale: context.scale, previousStabilizer: stabilizer,
                    i: context.i + token, f: context.f + token, length: length)
                advanceState(context, token: token, length: length,
                             tile: StateTile(c: c, ldc: dhv, n: n, row: row, rows: rows, column: column, width: width),
                             scratch: scratch)
                stabilizer = scratch.gates.nextStabilizer
            }
            if ownsNormalizer { (context.n + head * dqk + row).update(from: n, count: rows) }
            if ownsNormalizer && row == 0 { context.m[head] = Scalar(stabilizer) }
        }

        // 2. Outputs: items per (head, run of `stride` chunks, column tile),
        // each from its saved state. A run of one chunk never advances the
        // state and reads it in place; longer runs work on a private copy.
        runPhase(
            context.plan.phase(.runOutputs), threads: tiling.threads,
            makeScratch: { ForwardScratch<Scalar>(shared.value, memoryTile: stride > 1 ? dqk * tiling.dhv : 0) }
        ) { item, scratch in
            let context = shared.value
            let (savedC, savedN, savedM) = savedPointers.value
            let head = item / (segments * columnTiles)
            let segment = item / columnTiles % segments
            let column = item % columnTiles * tiling.dhv
            let width = min(tiling.dhv, dhv - column)
            let slot = head * segments + segment
            let first = segment * stride
            let chunks = first..<min(first + stride, context.chunkCount)
            var stabilizer = savedM[slot]
            if chunks.count == 1 {
                let tile = StateTile(c: savedC + slot * dqk * dhv + column, ldc: dhv, n: savedN + slot * dqk,
                                     column: column, width: width, rows: dqk)
                walkChunks(context, head: head, chunks: chunks, tile: tile,
                           stabilizer: &stabilizer, advanceAfterLast: false, scratch: scratch)
                return
            }
            let c = scratch.memoryTile.baseAddress
            ForwardScratch.copyTile(from: savedC + slot * dqk * dhv + column, stride: dhv, to: c, stride: width, rows: dqk, width: width)
            let n = scratch.normalizer.baseAddress
            n.update(from: savedN + slot * dqk, count: dqk)
            walkChunks(context, head: head, chunks: chunks,
                       tile: StateTile(c: c, ldc: width, n: n, column: column, width: width, rows: dqk),
                       stabilizer: &stabilizer, advanceAfterLast: false, scratch: scratch)
        }
    }
}
