import RealModule

extension Reference {
    /// The exact gradient of the recurrent form (`Documentation.docc/Math.md` §4, exact
    /// mode): reverse-mode differentiation of every step, through the
    /// normalizer, the exp(−m) branch of the denominator's max, and the
    /// stabilizer m where it enters (the max in m′ = max(lf + m, ĩ) routes
    /// its gradient to the larger argument; at a tie the token ĩ wins, the
    /// rule of every kernel, `Documentation.docc/Math.md` §6).
    ///
    /// Written for clarity: it recomputes the forward and keeps every state,
    /// O(S·DQK·DHV) memory per head. The ground truth for the fast backward.
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f as given to the forward.
    ///   - gate: the input gate.
    ///   - initialState: nil (zeros) or the state before the first token.
    ///   - eps: added to the denominator (finite, ≥ 0).
    ///   - dh: upstream gradient of h, `(B, NH, S, DHV)`.
    ///   - dFinalState: upstream gradients of the final (c, n, m), zeros if nil.
    /// - Returns: the gradients of q, k, v, i, f and of the initial state.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func recurrentBackward<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate, initialState: MLSTMState<Scalar>? = nil,
        eps: Scalar = 1e-6, dh: Tensor<Scalar>, dFinalState: MLSTMState<Scalar>? = nil
    ) throws(TFLAError) -> MLSTMGradients<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try initialState?.validate(for: shape, gate: gate, prefix: "initial state ")
        try Validation.requireShape(dh, shape.valueShape, "dh")
        if let dFinalState { try Validation.requireStateGradients(dFinalState, shape) }
        try inputs.validateValues(gate: gate)
        try Validation.requireFinite(dh, "dh")
        try MemoryBudget.require(shape.gradientBytes(scalar: MemoryLayout<Scalar>.size) + [[shape.sequence, shape.keyDim + 1, shape.valueDim + 1, MemoryLayout<Scalar>.size]],
                                 for: "recurrent backward")
        let (s, dqk, dhv) = (shape.sequence, shape.keyDim, shape.valueDim)
        let initial = initialState ?? MLSTMState(zerosFor: shape)
        let (q, k, v, ip, fp) = (inputs.q.scalars, inputs.k.scalars, inputs.v.scalars, inputs.i.scalars, inputs.f.scalars)
        let upstream = dh.scalars
        let (c0, n0, m0) = (initial.c.scalars, initial.n.scalars, initial.m.scalars)
        let (dcEnd, dnEnd, dmEnd) = (dFinalState?.c.scalars, dFinalState?.n.scalars, dFinalState?.m.scalars)
        // The gradients as plain arrays, zeros sized from the shape (sizes
        // checked above), made tensors of the same shapes at the end.
        func zeros(_ dims: [Int]) -> [Scalar] { [Scalar](repeating: 0, count: dims.reduce(1, *)) }
        var out = (dq: zeros(shape.queryShape), dk: zeros(shape.queryShape), dv: zeros(shape.valueShape),
                   di: zeros(shape.gateShape), df: zeros(shape.gateShape),
                   dc0: zeros(shape.memoryShape), dn0: zeros(shape.normalizerShape), dm0: zeros(shape.stabilizerShape))
        let scale = 1 / Scalar.sqrt(Scalar(dqk))
        for head in 0..<shape.batchHeads {
            // Forward, keeping every state: cs[t] is the state before token t,
            // cs[s] the final one.
            var cs = [[Scalar]](), ns = [[Scalar]](), ms = [Scalar]()
            var c = Array(c0[(head * dqk * dhv)..<((head + 1) * dqk * dhv)])
            var n = Array(n0[(head * dqk)..<((head + 1) * dqk)])
            var m = m0[head]
            for t in 0..<s {
                cs.append(c); ns.append(n); ms.append(m)
                let token = head * s + t
                let rule = StabilizerRule(gate: gate, token: fp[token], ip[token], previous: m)
                let (mNew, fa, ia) = (rule.stabilizer, rule.carriedScale, rule.newScale)
                for r in 0..<dqk {
                    n[r] = fa * n[r] + ia * k[token * dqk + r]
                    for col in 0..<dhv { c[r * dhv + col] = fa * c[r * dhv + col] + ia * k[token * dqk + r] * v[token * dhv + col] }
                }
                m = mNew
            }
            cs.append(c); ns.append(n)
            // Reverse sweep with the carried gradients of (C, n, m).
            var dC = dcEnd.map { Array($0[(head * dqk * dhv)..<((head + 1) * dqk * dhv)]) } ?? [Scalar](repeating: 0, count: dqk * dhv)
            var dN = dnEnd.map { Array($0[(head * dqk)..<((head + 1) * dqk)]) } ?? [Scalar](repeating: 0, count: dqk)
            var dM = dmEnd?[head] ?? 0
            for t in stride(from: s - 1, through: 0, by: -1) {
                let token = head * s + t
                let (cPrev, nPrev, mPrev) = (cs[t], ns[t], ms[t])
                let rule = StabilizerRule(gate: gate, token: fp[token], ip[token], previous: mPrev)
                let (mNew, fa, ia) = (rule.stabilizer, rule.carriedScale, rule.newScale)
                let kt = Array(k[(token * dqk)..<((token + 1) * dqk)])
                let vt = Array(v[(token * dhv)..<((token + 1) * dhv)])
                let qhat = (0..<dqk).map { scale * q[token * dqk + $0] }
                let (cNew, nNew) = (cs[t + 1], ns[t + 1])
                var num = [Scalar](repeating: 0, count: dhv)
                for r in 0..<dqk { for col in 0..<dhv { num[col] += qhat[r] * cNew[r * dhv + col] } }
                let qn = (0..<dqk).reduce(Scalar(0)) { $0 + qhat[$1] * nNew[$1] }
                let dht = Array(upstream[(token * dhv)..<((token + 1) * dhv)])
                var dmNew = dM
                var dqhat = [Scalar](repeating: 0, count: dqk)
                if gate.normalizes {
                    let floor = Scalar.exp(-mNew)
                    let den = max(abs(qn), floor) + eps
                    let dnum = dht.map { $0 / den }
                    let dden = -(0..<dhv).reduce(Scalar(0)) { $0 + dht[$1] * num[$1] } / (den * den)
                    if abs(qn) >= floor {
                        let dqn = dden * (qn >= 0 ? 1 : -1)
                        for r in 0..<dqk {
                            dqhat[r] += dqn * nNew[r]
                            dN[r] += dqn * qhat[r]
                        }
                    } else {
                        // dden·(−floor) = (y/den)·(floor/den), written so that
                        // a floor beyond the float range (m < −709) gives 0.
                        let y = (0..<dhv).reduce(Scalar(0)) { $0 + dht[$1] * num[$1] }
                        dmNew += (y / den) * (1 / (1 + eps / floor))
                    }
                    for r in 0..<dqk {
                        for col in 0..<dhv {
                            dC[r * dhv + col] += qhat[r] * dnum[col]
                            dqhat[r] += cNew[r * dhv + col] * dnum[col]
                        }
                    }
                } else {
                    for r in 0..<dqk {
                        for col in 0..<dhv {
                            dC[r * dhv + col] += qhat[r] * dht[col]
                            dqhat[r] += cNew[r * dhv + col] * dht[col]
                        }
                    }
                }
                for r in 0..<dqk { out.dq[token * dqk + r] = scale * dqhat[r] }
                // Through C′ = fa·C + ia·k vᵀ and n′ = fa·n + ia·k.
                var dfa: Scalar = 0, dia: Scalar = 0
                for r in 0..<dqk {
                    var dCv: Scalar = 0
                    for col in 0..<dhv {
                        let d = dC[r * dhv + col]
                        dfa += d * cPrev[r * dhv + col]
                        dCv += d * vt[col]
                        out.dv[token * dhv + col] += ia * d * kt[r]
                    }
                    dfa += dN[r] * nPrev[r]
                    dia += kt[r] * (dCv + dN[r])
                    out.dk[token * dqk + r] = ia * (dCv + dN[r])
                }
                for index in dC.indices { dC[index] *= fa }
                for r in 0..<dqk { dN[r] *= fa }
                // Through fa = exp(lf + m − m′), ia = exp(li − m′), m′ = max(lf + m, li).
                var dlf = dfa * fa, dli = dia * ia, dmPrev = dfa * fa
                dmNew -= dfa * fa + dia * ia
                if gate.isStabilized {
                    if rule.newAttains {
                        dli += dmNew
                    } else {
                        dlf += dmNew
                        dmPrev += dmNew
                    }
                } else {
                    dmPrev = 0
                }
                dM = dmPrev
                out.df[token] = dlf * sigmoid(-fp[token])
                out.di[token] = gate.isStabilized ? dli : dli * sigmoid(-ip[token])
            }
            for index in dC.indices { out.dc0[head * dqk * dhv + index] = dC[index] }
            for r in 0..<dqk { out.dn0[head * dqk + r] = dN[r] }
            out.dm0[head] = dM
        }
        return MLSTMGradients(
            dq: Tensor(shape: shape.queryShape, sizedScalars: out.dq),
            dk: Tensor(shape: shape.queryShape, sizedScalars: out.dk),
            dv: Tensor(shape: shape.valueShape, sizedScalars: out.dv),
            di: Tensor(shape: shape.gateShape, sizedScalars: out.di),
            df: Tensor(shape: shape.gateShape, sizedScalars: out.df),
            dInitialState: MLSTMState(
                c: Tensor(shape: shape.memoryShape, sizedScalars: out.dc0),
                n: Tensor(shape: shape.normalizerShape, sizedScalars: out.dn0),
                m: Tensor(shape: shape.stabilizerShape, sizedScalars: out.dm0)))
    }
}
