import RealModule

extension Reference {
    /// The parallel (quadratic) form (`Documentation.docc/Math.md` §1 "Parallel form",
    /// §2): every output attends to all earlier tokens through the decay
    /// matrix D, stabilized per row by its maximum m_t. O(S²) work and
    /// memory per head; takes no initial state.
    ///
    /// For the exponential gate it equals ``recurrent(_:gate:initialState:eps:)``
    /// up to the eps term (the parallel form has no m0 path); for the sigmoid
    /// gate, where m ≡ 0, the two agree to rounding.
    public static func parallel<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate, eps: Scalar = 1e-6
    ) throws(TFLAError) -> Tensor<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try inputs.validateValues(gate: gate)
        try MemoryBudget.require([shape.valueShape + [MemoryLayout<Scalar>.size], [shape.sequence, 8]], for: "parallel reference")
        var h = Tensor<Scalar>(shape: shape.valueShape)
        inputs.withPointers { input in
            h.withWritePointer { out in
                for head in 0..<shape.batchHeads {
                    parallelHead(
                        gate: gate, eps: eps, shape: shape,
                        q: input.q + head * shape.sequence * shape.keyDim,
                        k: input.k + head * shape.sequence * shape.keyDim,
                        v: input.v + head * shape.sequence * shape.valueDim,
                        i: input.i + head * shape.sequence,
                        f: input.f + head * shape.sequence,
                        h: out + head * shape.sequence * shape.valueDim)
                }
            }
        }
        return h
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func parallelHead<Scalar: KernelScalar>(
        gate: Gate, eps: Scalar, shape: ProblemShape,
        q: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>,
        i: UnsafePointer<Scalar>, f: UnsafePointer<Scalar>, h: UnsafeMutablePointer<Scalar>
    ) {
        let (s, dqk, dhv) = (shape.sequence, shape.keyDim, shape.valueDim)
        let scale = 1 / Scalar.sqrt(Scalar(dqk))
        let logForget = (0..<s).map { logSigmoid(f[$0]) }
        let logInput = (0..<s).map { gate.logInputWeight(i[$0]) }
        var logD = [Scalar](repeating: 0, count: s)
        for t in 0..<s {
            // logD[t, j] = Σ_{u=j+1..t} lf_u + ĩ_j, summed from the diagonal
            // outwards so no large prefix sums cancel.
            var decay: Scalar = 0
            for j in stride(from: t, through: 0, by: -1) {
                logD[j] = decay + logInput[j]
                decay += logForget[j]
            }
            let m = StabilizerRule.row(gate: gate, logWeights: logD, through: t).stabilizer
            var rowSum: Scalar = 0
            let ht = h + t * dhv
            for col in 0..<dhv { ht[col] = 0 }
            for j in 0...t {
                var score: Scalar = 0
                for d in 0..<dqk { score += q[t * dqk + d] * k[j * dqk + d] }
                // m = −∞ on a row of padding only (ĩ = −∞ up to t): weight 0, not NaN.
                let weight = scale * score * stabilizedWeight(logD[j], over: m)
                rowSum += weight
                for col in 0..<dhv { ht[col] += weight * v[j * dhv + col] }
            }
            if gate.normalizes {
                let denominator = max(abs(rowSum), Scalar.exp(-m)) + eps
                divide(ht, count: dhv, by: denominator)
            }
        }
    }
}
