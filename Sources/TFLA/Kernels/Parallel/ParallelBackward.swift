import RealModule

extension Reference {
    /// The gradient of the parallel form ``parallel(_:gate:eps:)`` in either
    /// mode, O(S²) per head, written for clarity.
    ///
    /// With D̄[t,j] = exp(logD[t,j] − m_t), S̄ = s·QKᵀ ⊙ D̄ and
    /// r_t = 1/(den_t + eps), every log-weight gets
    /// P[t,j] = S̄[t,j]·(v_j·dh_t·r_t + ζ_t), where ζ_t is the gradient of the
    /// denominator's argument (exact mode only). In exact mode the row
    /// maximum m_t also carries −eps·r_t·(dh_t·h_t) to its argmax
    /// (`Documentation.docc/BackwardPass.md`).
    ///
    /// The returned `dInitialState` is zeros: the form takes no initial state.
    ///
    /// - Returns: the gradients of q, k, v, i and f.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func parallelBackward<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate, eps: Scalar = 1e-6,
        dh: Tensor<Scalar>, mode: GradientMode = .exact
    ) throws(TFLAError) -> MLSTMGradients<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try Validation.requireShape(dh, shape.valueShape, "dh")
        try inputs.validateValues(gate: gate)
        try Validation.requireFinite(dh, "dh")
        try MemoryBudget.require(shape.gradientBytes(scalar: MemoryLayout<Scalar>.size) + [[shape.sequence, shape.sequence, 8]],
                                 for: "parallel backward")
        var g = MLSTMGradients<Scalar>(zerosFor: shape)
        let (s, dqk, dhv) = (shape.sequence, shape.keyDim, shape.valueDim)
        inputs.withPointers { input in
            dh.withReadPointer { dh in
                g.withMutablePointers { pointers in
                    for head in 0..<shape.batchHeads {
                        let (qkBase, vBase, gateBase) = (head * s * dqk, head * s * dhv, head * s)
                        parallelHeadBackward(
                            gate: gate, eps: Double(eps), exact: mode == .exact, s: s, dqk: dqk, dhv: dhv,
                            q: input.q + qkBase, k: input.k + qkBase, v: input.v + vBase,
                            i: input.i + gateBase, f: input.f + gateBase, dh: dh + vBase,
                            dq: pointers.dq + qkBase, dk: pointers.dk + qkBase, dv: pointers.dv + vBase,
                            di: pointers.di + gateBase, df: pointers.df + gateBase)
                    }
                }
            }
        }
        return g
    }

    /// One head, in Double whatever the scalar.
    static func parallelHeadBackward<Scalar: KernelScalar>(
        gate: Gate, eps: Double, exact: Bool, s: Int, dqk: Int, dhv: Int,
        q: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>,
        i: UnsafePointer<Scalar>, f: UnsafePointer<Scalar>, dh: UnsafePointer<Scalar>,
        dq: UnsafeMutablePointer<Scalar>, dk: UnsafeMutablePointer<Scalar>, dv: UnsafeMutablePointer<Scalar>,
        di: UnsafeMutablePointer<Scalar>, df: UnsafeMutablePointer<Scalar>
    ) {
        let scale = 1 / Double(dqk).squareRoot()
        let logForget = (0..<s).map { logSigmoid(Double(f[$0])) }
        let logInput = (0..<s).map { gate.logInputWeight(Double(i[$0])) }
        func dot<A: KernelScalar, B: KernelScalar>(_ a: UnsafePointer<A>, _ b: UnsafePointer<B>, _ n: Int) -> Double {
            (0..<n).reduce(0.0) { $0 + Double(a[$1]) * Double(b[$1]) }
        }
        var gq = [Double](repeating: 0, count: s * dqk), gk = gq
        var gv = [Double](repeating: 0, count: s * dhv)
        var dLogD = [Double](repeating: 0, count: s * s)   // P[t, j]
        var dRowMax = [Double](repeating: 0, count: s)      // gradient reaching m_t
        var rowArgmax = [Int](repeating: 0, count: s)
        var weights = [Double](repeating: 0, count: s), scores = weights
        for t in 0..<s {
            var decay = 0.0
            var logD = [Double](repeating: 0, count: t + 1)
            for j in stride(from: t, through: 0, by: -1) {
                logD[j] = decay + logInput[j]
                decay += logForget[j]
            }
            let (m, source) = StabilizerRule.row(gate: gate, logWeights: logD, through: t)
            rowArgmax[t] = source
            var z = 0.0
            var h = [Double](repeating: 0, count: dhv)
            for j in 0...t {
                weights[j] = stabilizedWeight(logD[j], over: m)
                scores[j] = scale * dot(q + t * dqk, k + j * dqk, dqk) * weights[j]
                z += scores[j]
                for col in 0..<dhv { h[col] += scores[j] * Double(v[j * dhv + col]) }
            }
            var r = 1.0, zeta = 0.0
            if gate.normalizes {
                let floor = Double.exp(-m)
                r = 1 / (max(abs(z), floor) + eps)
                let y = (0..<dhv).reduce(0.0) { $0 + Double(dh[t * dhv + $1]) * h[$1] } * r
                if exact {
                    if abs(z) >= floor { zeta = -r * y * (z >= 0 ? 1 : -1) }
                    if gate.isStabilized { dRowMax[t] = -eps * r * y }
                }
            }
            for j in 0...t {
                let dScore = r * dot(v + j * dhv, dh + t * dhv, dhv) + zeta
                dLogD[t * s + j] = dScore * scores[j]
                let dRaw = scale * dScore * weights[j]
                for d in 0..<dqk {
                    gq[t * dqk + d] += dRaw * Double(k[j * dqk + d])
                    gk[j * dqk + d] += dRaw * Double(q[t * dqk + d])
                }
                for col in 0..<dhv { gv[j * dhv + col] += scores[j] * r * Double(dh[t * dhv + col]) }
            }
        }
        // logD[t, j] = Σ_{u=j+1..t} lf_u + ĩ_j − [m_t], with m_t = logD[t, argmax].
        var dLogForget = [Double](repeating: 0, count: s)
        var dLogInput = [Double](repeating: 0, count: s)
        for t in 0..<s {
            for j in 0...t {
                var p = dLogD[t * s + j]
                if j == rowArgmax[t] { p += dRowMax[t] }
                dLogInput[j] += p
                for u in stride(from: j + 1, through: t, by: 1) { dLogForget[u] += p }
            }
        }
        for index in 0..<(s * dqk) { dq[index] = Scalar(gq[index]); dk[index] = Scalar(gk[index]) }
        for index in 0..<(s * dhv) { dv[index] = Scalar(gv[index]) }
        for t in 0..<s {
            df[t] = Scalar(dLogForget[t] * sigmoid(-Double(f[t])))
            di[t] = Scalar(gate.isStabilized ? dLogInput[t] : dLogInput[t] * sigmoid(-Double(i[t])))
        }
    }
}

extension MLSTMGradients {
    /// All-zero gradients for a problem shape.
    init(zerosFor shape: ProblemShape) {
        self.init(
            dq: Tensor(shape: shape.queryShape), dk: Tensor(shape: shape.queryShape), dv: Tensor(shape: shape.valueShape),
            di: Tensor(shape: shape.gateShape), df: Tensor(shape: shape.gateShape),
            dInitialState: MLSTMState(zerosFor: shape))
    }
}
