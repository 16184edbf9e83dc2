/// The chunkwise backward in TFLA's phases, for problems with few heads.
extension Chunkwise {
    /// 1. the states before every chunk (saved, or recomputed per segment,
    ///    items per (head, segment));
    /// 2. the reverse recurrence of the state gradient, items per (head,
    ///    tile of C's columns), keeping dC and dn after every chunk;
    /// 3. dq, dk, dv of every chunk, items per (head, chunk);
    /// 4. the gate gradients per head.
    /// Memory: two (DQK × DHV) matrices per chunk and head, which is why the
    /// per-head walk is used when there are enough heads.
    static func runInPhases<Scalar: KernelScalar>(_ context: BackwardContext<Scalar>) {
        let fw = context.forward
        let (heads, chunks, memory) = (fw.shape.batchHeads, fw.chunkCount, fw.shape.keyDim * fw.shape.valueDim)
        // The states before every chunk are kept only when some were not
        // saved; the state gradients after every chunk always.
        let recomputed = context.stride == 1 ? 0 : heads * chunks
        let buffers = PhaseBuffers<Scalar>(
            states: OwnedBuffer(capacity: recomputed * memory), normalizers: OwnedBuffer(capacity: recomputed * fw.shape.keyDim),
            stabilizers: OwnedBuffer(capacity: recomputed),
            memoryGradients: OwnedBuffer(capacity: heads * chunks * memory),
            normalizerGradients: OwnedBuffer(capacity: heads * chunks * fw.shape.keyDim))
        runInPhases(context, buffers: buffers)
    }

    /// The buffers of the phases, owned for one call.
    struct PhaseBuffers<Scalar: KernelScalar>: ~Copyable {
        let states, normalizers: OwnedBuffer<Scalar>
        let stabilizers: OwnedBuffer<Double>
        let memoryGradients, normalizerGradients: OwnedBuffer<Scalar>
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func runInPhases<Scalar: KernelScalar>(_ context: BackwardContext<Scalar>, buffers: borrowing PhaseBuffers<Scalar>) {
        let fw = context.forward
        let shape = fw.shape
        let (dqk, dhv, tiling) = (shape.keyDim, shape.valueDim, fw.tiling)
        let memory = dqk * dhv
        let (chunks, stateStride, segments) = (fw.chunkCount, context.stride, context.segments)
        let shared = UnsafeSendable(context)

        // 1. States before every chunk.
        let states: UnsafePointer<Scalar>, normalizers: UnsafePointer<Scalar>, stabilizers: UnsafePointer<Double>
        if stateStride == 1 {
            (states, normalizers, stabilizers) = (context.savedC, context.savedN, context.savedM)
        } else {
            let (c, n, m) = (buffers.states.baseAddress, buffers.normalizers.baseAddress, buffers.stabilizers.baseAddress)
            let targets = UnsafeSendable((c, n, m))
            runPhase(
                fw.plan.phase(.states), threads: tiling.threads,
                makeScratch: { ForwardScratch<Scalar>(shared.value.forward) }
            ) { item, scratch in
                let context = shared.value
                let fw = context.forward
                let (c, n, m) = targets.value
                let (head, segment) = (item / segments, item % segments)
                let first = segment * stateStride
                let last = min(first + stateStride, chunks) - 1
                let slot = head * segments + segment
                let base = head * chunks
                (c + (base + first) * memory).update(from: context.savedC + slot * memory, count: memory)
                (n + (base + first) * dqk).update(from: context.savedN + slot * dqk, count: dqk)
                m[base + first] = context.savedM[slot]
                for index in stride(from: first, to: last, by: 1) {
                    m[base + index + 1] = nextChunkState(
                        fw, head: head, index: index,
                        c: c + (base + index) * memory, n: n + (base + index) * dqk, stabilizer: m[base + index],
                        nextC: c + (base + index + 1) * memory, nextN: n + (base + index + 1) * dqk, scratch: scratch)
                }
            }
            (states, normalizers, stabilizers) = (UnsafePointer(c), UnsafePointer(n), UnsafePointer(m))
        }

        // 2. The state gradient after every chunk, per tile of C's columns.
        let (dCs, dNs) = (buffers.memoryGradients.baseAddress, buffers.normalizerGradients.baseAddress)
        let saved = UnsafeSendable((states, normalizers, stabilizers, dCs, dNs))
        let columnTiles = (dhv + tiling.phaseColumns - 1) / tiling.phaseColumns
        runPhase(
            fw.plan.phase(.stateGradients), threads: tiling.threads,
            makeScratch: { BackwardScratch(shared.value) }
        ) { item, scratch in
            let context = shared.value
            let fw = context.forward
            let (_, _, stabilizers, dCs, dNs) = saved.value
            let head = item / columnTiles
            let column = item % columnTiles * tiling.phaseColumns
            let width = min(tiling.phaseColumns, dhv - column)
            let ownsNormalizer = column == 0
            let dC = scratch.memoryGradient.baseAddress, dN = scratch.normalizerGradient.baseAddress
            if let dcLast = context.dcLast {
                ForwardScratch.copyTile(from: dcLast + head * memory + column, stride: dhv, to: dC, stride: width, rows: dqk, width: width)
            } else {
                dC.update(repeating: 0, count: dqk * width)
            }
            if context.exact, let dnLast = context.dnLast {
                dN.update(from: dnLast + head * dqk, count: dqk)
            } else {
                dN.update(repeating: 0, count: dqk)
            }
            for index in stride(from: chunks - 1, through: 0, by: -1) {
                let slot = head * chunks + index
                ForwardScratch.copyTile(from: dC, stride: width, to: dCs + slot * memory + column, stride: dhv, rows: dqk, width: width)
                if ownsNormalizer { (dNs + slot * dqk).update(from: dN, count: dqk) }
                let (token, length) = fw.chunk(index, head: head)
                scratch.gates.compute(gate: fw.gate, scale: fw.scale, previousStabilizer: stabilizers[slot],
                                      i: fw.i + token, f: fw.f + token, length: length)
                tokenTerms(context, token: token, length: length, column: column, width: width,
                           denominatorGradients: ownsNormalizer, scratch: scratch)
                carryStateGradient(context, token: token, length: length, width: width, dC: dC, ldc: width,
                                   dN: ownsNormalizer && context.exact ? dN : nil, scratch: scratch)
            }
            ForwardScratch.copyTile(from: dC, stride: width, to: context.dc0 + head * memory + column, stride: dhv, rows: dqk, width: width)
            if ownsNormalizer {
                if context.exact {
                    (context.dn0 + head * dqk).update(from: dN, count: dqk)
                } else {
                    (context.dn0 + head * dqk).update(repeating: 0, count: dqk)
                }
            }
        }

        // 3. Every chunk's dq, dk, dv.
        runPhase(
            fw.plan.phase(.chunkGradients), threads: tiling.threads,
            makeScratch: { BackwardScratch(shared.value) }
        ) { item, scratch in
            let (states, normalizers, stabilizers, dCs, dNs) = saved.value
            let (head, index) = (item / chunks, item % chunks)
            let slot = head * chunks + index
            chunkBackward(shared.value, head: head, index: index,
                          cPrev: states + slot * memory, nPrev: normalizers + slot * dqk, mPrev: stabilizers[slot],
                          dC: dCs + slot * memory, dN: dNs + slot * dqk, carry: false, scratch: scratch)
        }

        // 4. Gate gradients.
        runPhase(fw.plan.phase(.gateGradients), threads: tiling.threads,
                 makeScratch: { ChunkGates(capacity: shared.value.forward.tiling.chunk) }) { head, gates in
            gateGradients(shared.value, head: head, gates: gates)
        }
    }
}
