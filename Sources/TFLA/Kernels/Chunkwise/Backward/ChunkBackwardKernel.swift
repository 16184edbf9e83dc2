import RealModule

/// The backward pass of one chunk (`Documentation.docc/BackwardPass.md`, "The chunkwise backward").
extension Chunkwise {
    /// Gradients for the tokens of chunk `index` of `head`, given the state
    /// before the chunk (`cPrev`, `nPrev`, `mPrev`) and the gradient of the
    /// state after it (`dC`, `dN`), which it then carries back to the state
    /// before the chunk when `carry` is set:
    ///
    ///     dq_t = α_t·(C₋·dH̄_t + ζ_t·n₋) + s·Σ_j dS_tj·k_j
    ///     dk_j = w_j·(dC·v_j + dn)     + s·Σ_t dS_tj·q_t
    ///     dv_j = w_j·dCᵀ·k_j           + Σ_t S̄_tj·dH̄_t
    ///     dC₋  = γ·dC + Σ_t α_t·q_t·dH̄_tᵀ       dn₋ = γ·dn + Σ_t α_t·ζ_t·q_t
    ///
    /// with dH̄_t = dh_t/(den_t + eps), dS_tj = (v_j·dH̄_t + ζ_t)·D̄_tj and
    /// ζ_t the gradient of the denominator's argument (zero in reference
    /// mode). Also records q·dq, k·dk and the gradient reaching m_t per token.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func chunkBackward<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, head: Int, index: Int,
        cPrev: UnsafePointer<Scalar>, nPrev: UnsafePointer<Scalar>, mPrev: Double,
        dC: UnsafeMutablePointer<Scalar>, dN: UnsafeMutablePointer<Scalar>, carry: Bool,
        scratch: BackwardScratch<Scalar>
    ) {
        let fw = context.forward
        let (dqk, dhv) = (fw.shape.keyDim, fw.shape.valueDim)
        let (token, length) = fw.chunk(index, head: head)
        scratch.gates.compute(gate: fw.gate, scale: fw.scale, previousStabilizer: mPrev,
                              i: fw.i + token, f: fw.f + token, length: length)
        let gates = scratch.gates
        let dHbar = scratch.scaledOutputGradient.baseAddress
        let zeta = scratch.denominatorGradient.baseAddress
        tokenTerms(context, token: token, length: length, column: 0, width: dhv,
                   denominatorGradients: true, scratch: scratch)

        // Inter-chunk terms, written first (β = 0), then scaled per row.
        let dq = context.dq + token * dqk, dk = context.dk + token * dqk, dv = context.dv + token * dhv
        let q = fw.q + token * dqk, k = fw.k + token * dqk, v = fw.v + token * dhv
        Scalar.gemm(transposeA: false, transposeB: true, m: length, n: dqk, k: dhv,
                    alpha: 1, a: dHbar, lda: dhv, b: cPrev, ldb: dhv, beta: 0, c: dq, ldc: dqk)
        Scalar.gemm(transposeA: false, transposeB: true, m: length, n: dqk, k: dhv,
                    alpha: 1, a: v, lda: dhv, b: dC, ldb: dhv, beta: 0, c: dk, ldc: dqk)
        Scalar.gemm(transposeA: false, transposeB: false, m: length, n: dhv, k: dqk,
                    alpha: 1, a: k, lda: dqk, b: dC, ldb: dhv, beta: 0, c: dv, ldc: dhv)
        for t in 0..<length {
            let alpha = Scalar(gates.interScale[t]), w = Scalar(gates.updateWeight[t])
            let (dqt, dkt, dvt) = (dq + t * dqk, dk + t * dqk, dv + t * dhv)
            let zetaAlpha = zeta[t] * alpha
            for d in 0..<dqk {
                dqt[d] = alpha * dqt[d] + zetaAlpha * nPrev[d]
                dkt[d] = w * (dkt[d] + dN[d])
            }
            for col in 0..<dhv { dvt[col] *= w }
        }

        // Intra-chunk terms, query tile by key/value tile up to the diagonal.
        let (queryTile, kvTile) = (fw.tiling.query, fw.tiling.kv)
        let scores = scratch.scores.baseAddress, dS = scratch.scoreGradients.baseAddress
        let decay = scratch.decay.baseAddress
        let scale = Scalar(fw.scale)
        for rowStart in stride(from: 0, to: length, by: queryTile) {
            let rows = min(queryTile, length - rowStart)
            let rowEnd = rowStart + rows
            for keyStart in stride(from: 0, to: rowEnd, by: kvTile) {
                let keys = min(kvTile, length - keyStart)
                // D̄ (zero above the diagonal), S̄ = s·QKᵀ ⊙ D̄, dP = dH̄·Vᵀ.
                for r in 0..<rows {
                    let t = rowStart + r
                    let row = decay + r * keys
                    row.update(repeating: 1, count: keys)
                    let _: Scalar = gates.applyWeights(
                        row, count: keys, visible: max(0, min(keys, t - keyStart + 1)), keyStart: keyStart,
                        query: t, rowTerm: gates.rowTerm[t])
                }
                Scalar.gemm(transposeA: false, transposeB: true, m: rows, n: keys, k: dqk,
                            alpha: scale, a: q + rowStart * dqk, lda: dqk, b: k + keyStart * dqk, ldb: dqk,
                            beta: 0, c: scores, ldc: keys)
                Scalar.gemm(transposeA: false, transposeB: true, m: rows, n: keys, k: dhv,
                            alpha: 1, a: dHbar + rowStart * dhv, lda: dhv, b: v + keyStart * dhv, ldb: dhv,
                            beta: 0, c: dS, ldc: keys)
                for r in 0..<rows {
                    let zt = zeta[rowStart + r]
                    let (s, g, d) = (scores + r * keys, dS + r * keys, decay + r * keys)
                    for j in 0..<keys {
                        s[j] *= d[j]
                        g[j] = (g[j] + zt) * d[j]
                    }
                }
                Scalar.gemm(transposeA: false, transposeB: false, m: rows, n: dqk, k: keys,
                            alpha: scale, a: dS, lda: keys, b: k + keyStart * dqk, ldb: dqk,
                            beta: 1, c: dq + rowStart * dqk, ldc: dqk)
                Scalar.gemm(transposeA: true, transposeB: false, m: keys, n: dqk, k: rows,
                            alpha: scale, a: dS, lda: keys, b: q + rowStart * dqk, ldb: dqk,
                            beta: 1, c: dk + keyStart * dqk, ldc: dqk)
                Scalar.gemm(transposeA: true, transposeB: false, m: keys, n: dhv, k: rows,
                            alpha: 1, a: scores, lda: keys, b: dHbar + rowStart * dhv, ldb: dhv,
                            beta: 1, c: dv + keyStart * dhv, ldc: dhv)
            }
        }

        if carry {
            carryStateGradient(context, token: token, length: length, width: dhv, dC: dC, ldc: dhv,
                               dN: context.exact ? dN : nil, scratch: scratch)
        }
        for t in 0..<length {
            context.querySums[token + t] = Double(dot(q + t * dqk, dq + t * dqk, count: dqk))
            context.keySums[token + t] = Double(dot(k + t * dqk, dk + t * dqk, count: dqk))
        }
    }

    /// Per token of a chunk whose gates are in `scratch.gates`: 1/(den + eps),
    /// and dH̄ = dh/(den + eps) for columns `column..<column+width` (row
    /// stride `width`). With `denominatorGradients`, also ζ_t (exact mode)
    /// and the gradient reaching m_t, which need whole rows of dh and h.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func tokenTerms<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, token: Int, length: Int, column: Int, width: Int,
        denominatorGradients: Bool, scratch: BackwardScratch<Scalar>
    ) {
        let fw = context.forward
        let dhv = fw.shape.valueDim
        let gates = scratch.gates
        let dHbar = scratch.scaledOutputGradient.baseAddress
        let inverse = scratch.inverseDenominator.baseAddress
        let zeta = scratch.denominatorGradient.baseAddress
        for t in 0..<length {
            let dht = context.dh + (token + t) * dhv
            var r = 1.0, zt = 0.0, mu = 0.0
            if fw.gate.normalizes {
                let z = Double(context.z[token + t])
                let floor = gates.denominatorFloor[t]
                r = 1 / (max(abs(z), floor) + fw.eps)
                if context.exact && denominatorGradients {
                    let y = Double(dot(dht, context.h + (token + t) * dhv, count: dhv))
                    if abs(z) >= floor { zt = z >= 0 ? -r * y : r * y }
                    if fw.gate.isStabilized { mu = -fw.eps * r * y }
                }
            }
            inverse[t] = Scalar(r)
            zeta[t] = Scalar(zt)
            if denominatorGradients { context.stabilizerGradients[token + t] = mu }
            let row = dHbar + t * width
            for col in 0..<width { row[col] = dht[column + col] * inverse[t] }
        }
    }

    /// dC₋ = γ·dC + Σ_t α_t·q_t·dH̄_tᵀ for `width` columns of dC (row stride
    /// `ldc`), from `tokenTerms`' dH̄ (row stride `width`); and, when `dN` is
    /// given, dn₋ = γ·dn + Σ_t α_t·ζ_t·q_t.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func carryStateGradient<Scalar: KernelScalar>(
        _ context: BackwardContext<Scalar>, token: Int, length: Int, width: Int,
        dC: UnsafeMutablePointer<Scalar>, ldc: Int, dN: UnsafeMutablePointer<Scalar>?, scratch: BackwardScratch<Scalar>
    ) {
        let dqk = context.forward.shape.keyDim
        let gates = scratch.gates
        let q = context.forward.q + token * dqk
        let zeta = scratch.denominatorGradient.baseAddress
        let scaledQ = scratch.scaledQueries.baseAddress
        let gamma = Scalar(gates.stateDecay)
        for t in 0..<length {
            let alpha = Scalar(gates.interScale[t])
            for d in 0..<dqk { scaledQ[t * dqk + d] = alpha * q[t * dqk + d] }
        }
        if let dN {
            for d in 0..<dqk { dN[d] *= gamma }
            for t in 0..<length where zeta[t] != 0 {
                for d in 0..<dqk { dN[d] += zeta[t] * scaledQ[t * dqk + d] }
            }
        }
        Scalar.gemm(transposeA: true, transposeB: false, m: dqk, n: width, k: length,
                    alpha: 1, a: scaledQ, lda: dqk, b: scratch.scaledOutputGradient.baseAddress, ldb: width,
                    beta: gamma, c: dC, ldc: ldc)
    }

    @inline(__always)
    static func dot<Scalar: KernelScalar>(_ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>, count: Int) -> Scalar {
        var sum: Scalar = 0
        for index in 0..<count { sum += a[index] * b[index] }
        return sum
    }
}
