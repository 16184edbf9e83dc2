import RealModule

extension Chunkwise {
    /// di, df and dm0 of one head from the per-token sums of the chunk pass.
    ///
    /// A log-weight F_t − F_j + ĩ_j acts on the output like a scale of q_t
    /// and k_j, so with m held fixed dF_t = q_t·dq_t − k_t·dk_t and
    /// dĩ_j = k_j·dk_j; the final state adds Σ dc⊙c + dn·n at the last token
    /// and the initial state gives dm0 = Σ dc0⊙c0 + dn0·n0 (exact mode).
    /// In exact mode the output stabilizer m_t = F_t + max(m0, max_{j≤t} ĩ_j − F_j)
    /// also carries its gradient to F_t and to its argmax (ĩ_j and F_j, or m0);
    /// the argmax is found with the same comparisons the forward made.
    /// Then df = (reverse cumsum of dF)·σ(−f̃).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func gateGradients<Scalar: KernelScalar>(_ context: BackwardContext<Scalar>, head: Int, gates: ChunkGates) {
        let fw = context.forward
        let (s, dqk, dhv) = (fw.shape.sequence, fw.shape.keyDim, fw.shape.valueDim)
        let base = head * s
        // The per-token sums of this head become dF and dĩ in place.
        let dF = context.querySums + base, dLogI = context.keySums + base
        let mu = context.stabilizerGradients + base
        for t in 0..<s {
            dF[t] -= dLogI[t]
        }
        var dm0 = 0.0
        if context.exact {
            let (memory, normalizer) = (head * dqk * dhv, head * dqk)
            var finalDot = 0.0
            if let dc = context.dcLast {
                for index in 0..<(dqk * dhv) { finalDot += Double(dc[memory + index]) * Double(context.finalC[memory + index]) }
            }
            if let dn = context.dnLast {
                for index in 0..<dqk { finalDot += Double(dn[normalizer + index]) * Double(context.finalN[normalizer + index]) }
            }
            dF[s - 1] += finalDot
            if fw.gate.isStabilized {
                for index in 0..<(dqk * dhv) { dm0 += Double(context.dc0[memory + index]) * Double(context.c0[memory + index]) }
                for index in 0..<dqk { dm0 += Double(context.dn0[normalizer + index]) * Double(fw.n0[normalizer + index]) }
                mu[s - 1] += Double(context.dmLast?[head] ?? 0) - finalDot
                dm0 += routeStabilizerGradients(context, head: head, dF: dF, dLogI: dLogI, mu: mu, gates: gates)
            }
        }
        context.dm0[head] = Scalar(dm0)
        var reverseSum = 0.0
        for t in stride(from: s - 1, through: 0, by: -1) {
            reverseSum += dF[t]
            let (f, i) = (Double(fw.f[base + t]), Double(fw.i[base + t]))
            context.df[base + t] = Scalar(reverseSum * sigmoid(-f))
            context.di[base + t] = Scalar(fw.gate.isStabilized ? dLogI[t] : dLogI[t] * sigmoid(-i))
        }
    }

    /// Adds the gradient reaching each m_t to F_t and to the term that
    /// attains max(m0, max_{j≤t} ĩ_j − F_j): the chunk gates are recomputed
    /// with the stabilizers the forward saved, so the choice (ties
    /// included) is the forward's own (`ChunkGates.stabilizerSource`).
    /// Returns the part that reaches m0.
    static func routeStabilizerGradients<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, head: Int,
        dF: UnsafeMutablePointer<Double>, dLogI: UnsafeMutablePointer<Double>, mu: UnsafePointer<Double>,
        gates: ChunkGates
    ) -> Double {
        let fw = context.forward
        let base = head * fw.shape.sequence
        var toInitial = 0.0
        var mPrev = Double(fw.m0[head])
        var source = -1   // the token behind mPrev (flat within the head), −1 for m0
        for index in 0..<fw.chunkCount {
            if index % context.stride == 0 {
                mPrev = context.savedM[head * context.segments + index / context.stride]
            }
            let (token, length) = fw.chunk(index, head: head)
            let local = token - base
            gates.compute(gate: fw.gate, scale: fw.scale, previousStabilizer: mPrev,
                          i: fw.i + token, f: fw.f + token, length: length)
            for t in 0..<length {
                let chosen = gates.stabilizerSource[t]
                let argmax = chosen < 0 ? source : local + chosen
                let g = mu[local + t]
                dF[local + t] += g
                if argmax < 0 {
                    toInitial += g
                } else {
                    dLogI[argmax] += g
                    dF[argmax] -= g
                }
            }
            if gates.nextStabilizerSource >= 0 { source = local + gates.nextStabilizerSource }
            mPrev = gates.nextStabilizer
        }
        return toInitial
    }
}
