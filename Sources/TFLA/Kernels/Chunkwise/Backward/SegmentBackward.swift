/// The segment-parallel reverse scan of the chunkwise backward
/// (`Documentation.docc/BackwardPass.md`, "Many cores").
///
/// The per-head walk carries the state gradient from the last chunk to the
/// first: dC_{k−1} = γ_k·dC_k + (α⊙Q_k)ᵀ·dH̄_k and, in exact mode,
/// dn_{k−1} = γ_k·dn_k + Σ_t ζ_t·α_t·q_t. Both are linear with one scalar
/// decay per chunk, and their inputs (α, dH̄, ζ, γ) come from the gates, the
/// saved denominators and dh alone. So a block of chunks has a summary — its
/// decay Γ = Π γ_k and the (ΔdC, Δdn) it adds from a zero gradient — and the
/// gradient before it is Γ·(gradient after it) + (ΔdC, Δdn), exactly. With
/// fewer heads than planned workers the chunks are cut into blocks of whole
/// saved-state segments: the blocks after the first are summarized in
/// parallel, then every block's walk composes its incoming gradient from the
/// summaries after it and runs in parallel with the others.
extension Chunkwise {
    /// The plan's blocks of saved-state segments, each walked by one item per head.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func runBlocks<Scalar: KernelScalar>(_ context: BackwardContext<Scalar>) {
        let fw = context.forward
        let plan = fw.plan.segmentPlan
        let (heads, dqk, dhv, blocks) = (fw.shape.batchHeads, fw.shape.keyDim, fw.shape.valueDim, plan.count)
        // Summaries of blocks 1..<blocks (slot block · heads + head; block 0's slots unused).
        var deltaC = Tensor<Scalar>(shape: [blocks * heads, dqk, dhv])
        var deltaN = Tensor<Scalar>(shape: [blocks * heads, dqk])
        var decays = Tensor<Double>(shape: [blocks * heads])
        deltaC.withWritePointer { deltaC in
            deltaN.withWritePointer { deltaN in
                decays.withWritePointer { decays in
                    runBlocks(context, plan: plan, summary: UnsafeSendable((deltaC, deltaN, decays)))
                }
            }
        }
    }

    /// `runBlocks` with the blocks' summary buffers (ΔdC, Δdn, decay).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func runBlocks<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, plan: SegmentPlan,
        summary: UnsafeSendable<(UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<Double>)>
    ) {
        let fw = context.forward
        let (heads, dqk, dhv, blocks) = (fw.shape.batchHeads, fw.shape.keyDim, fw.shape.valueDim, plan.count)
        let shared = UnsafeSendable(context)
        runPhase(
            fw.plan.phase(.blockSummaries), threads: fw.tiling.threads,
            makeScratch: { BackwardScratch(shared.value) }
        ) { item, scratch in
            let (c, n, decay) = summary.value
            let (head, block) = (item / (blocks - 1), 1 + item % (blocks - 1))
            let slot = block * heads + head
            decay[slot] = summarizeBlock(shared.value, head: head, segments: plan.chunks(of: block, total: shared.value.segments),
                                         dC: c + slot * dqk * dhv, dN: n + slot * dqk, scratch: scratch)
        }
        runPhase(
            fw.plan.phase(.blockWalks), threads: fw.tiling.threads,
            makeScratch: { BackwardScratch(shared.value) }
        ) { item, scratch in
            let context = shared.value
            let (c, n, decay) = summary.value
            let (head, block) = (item / blocks, item % blocks)
            let dC = scratch.memoryGradient.baseAddress, dN = scratch.normalizerGradient.baseAddress
            loadFinalStateGradients(context, head: head, dC: dC, dN: dN)
            for later in stride(from: blocks - 1, to: block, by: -1) {
                let slot = later * heads + head
                let (gamma, sourceC, sourceN) = (Scalar(decay[slot]), c + slot * dqk * dhv, n + slot * dqk)
                for index in 0..<(dqk * dhv) { dC[index] = gamma * dC[index] + sourceC[index] }
                for index in 0..<dqk { dN[index] = gamma * dN[index] + sourceN[index] }
            }
            walkBackward(context, head: head, segments: plan.chunks(of: block, total: context.segments),
                         dC: dC, dN: dN, scratch: scratch)
            if block == 0 { storeInitialStateGradients(context, head: head, dC: dC, dN: dN) }
        }
        runPhase(fw.plan.phase(.gateGradients), threads: fw.tiling.threads,
                 makeScratch: { ChunkGates(capacity: shared.value.forward.tiling.chunk) }) { head, gates in
            gateGradients(shared.value, head: head, gates: gates)
        }
    }

    /// The state-gradient summary of saved-state segments `segments` of one
    /// head: (ΔdC, Δdn) carried from a zero gradient after the last of their
    /// chunks to before the first, into the zeroed `dC`, `dN`; returns Γ.
    static func summarizeBlock<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, head: Int, segments: Range<Int>,
        dC: UnsafeMutablePointer<Scalar>, dN: UnsafeMutablePointer<Scalar>, scratch: BackwardScratch<Scalar>
    ) -> Double {
        let fw = context.forward
        let chunks = segments.lowerBound * context.stride..<min(segments.upperBound * context.stride, fw.chunkCount)
        // The stabilizer before each chunk, from the saved one at the block's start.
        var stabilizers = [Double](repeating: 0, count: chunks.count)
        var m = context.savedM[head * context.segments + segments.lowerBound]
        for index in chunks {
            stabilizers[index - chunks.lowerBound] = m
            let (token, length) = fw.chunk(index, head: head)
            scratch.gates.compute(gate: fw.gate, scale: fw.scale, previousStabilizer: m,
                                  i: fw.i + token, f: fw.f + token, length: length)
            m = scratch.gates.nextStabilizer
        }
        var decay = 1.0
        for index in chunks.reversed() {
            let (token, length) = fw.chunk(index, head: head)
            scratch.gates.compute(gate: fw.gate, scale: fw.scale, previousStabilizer: stabilizers[index - chunks.lowerBound],
                                  i: fw.i + token, f: fw.f + token, length: length)
            tokenTerms(context, token: token, length: length, column: 0, width: fw.shape.valueDim,
                       denominatorGradients: true, scratch: scratch)
            carryStateGradient(context, token: token, length: length, width: fw.shape.valueDim, dC: dC,
                               ldc: fw.shape.valueDim, dN: context.exact ? dN : nil, scratch: scratch)
            decay *= scratch.gates.stateDecay
        }
        return decay
    }
}
