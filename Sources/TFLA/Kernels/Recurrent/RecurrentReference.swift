import RealModule

/// The float64-grade reference kernels: the mLSTM written as directly as the
/// math allows, as the ground truth the fast kernels are tested against.
///
/// They compute in `Scalar` (use `Double` for exact results), run on one
/// thread, and favour clarity over speed. See `Documentation.docc/Math.md`.
public enum Reference {}

extension Reference {
    /// The recurrent form (`Documentation.docc/Math.md` §1 "Recurrent form", §2): walks
    /// the sequence token by token, carrying (C, n, m) per batch entry and
    /// head. Working memory is one state, O(DQK·DHV) per head.
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f in the shapes of ``MLSTMInputs``.
    ///   - gate: exponential or sigmoid input gate.
    ///   - initialState: (c0, n0, m0); zeros (m0 = 0) when nil. For the
    ///     sigmoid gate m0 must be zero.
    ///   - eps: added to the denominator; finite and ≥ 0.
    /// - Returns: h and the final state.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func recurrent<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, gate: Gate,
        initialState: MLSTMState<Scalar>? = nil, eps: Scalar = 1e-6
    ) throws(TFLAError) -> MLSTMOutput<Scalar> {
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try initialState?.validate(for: shape, gate: gate, prefix: "initial state ")
        try inputs.validateValues(gate: gate)
        try MemoryBudget.require(shape.outputBytes(scalar: MemoryLayout<Scalar>.size), for: "recurrent reference")
        var state = initialState ?? MLSTMState(zerosFor: shape)
        var h = Tensor<Scalar>(shape: shape.valueShape)
        run(inputs, shape: shape, gate: gate, eps: eps, state: &state, h: &h)
        return MLSTMOutput(h: h, state: state)
    }

    /// The S tokens of every head in order, from `state` (advanced in
    /// place), h into `h` (laid out as the inputs, S = 1 for a step).
    static func run<Scalar: KernelScalar>(
        _ inputs: MLSTMInputs<Scalar>, shape: ProblemShape, gate: Gate, eps: Scalar,
        state: inout MLSTMState<Scalar>, h: inout Tensor<Scalar>
    ) {
        let (dqk, dhv, s) = (shape.keyDim, shape.valueDim, shape.sequence)
        inputs.withPointers { input in
            state.withMutablePointers { target in
                h.withWritePointer { out in
                    for head in 0..<shape.batchHeads {
                        for t in 0..<s {
                            let token = head * s + t
                            advance(
                                gate: gate, eps: eps, dqk: dqk, dhv: dhv,
                                q: input.q + token * dqk, k: input.k + token * dqk, v: input.v + token * dhv,
                                i: input.i[token], f: input.f[token],
                                c: target.c + head * dqk * dhv, n: target.n + head * dqk, m: target.m + head,
                                h: out + token * dhv)
                        }
                    }
                }
            }
        }
    }

    /// One generation step (`Documentation.docc/Math.md` §1, one step of the recurrent
    /// form): (q, k, v, i, f, state) → (h, state′).
    ///
    /// - Parameters:
    ///   - q: the token's query, `(B, NH, DQK)`.
    ///   - k: its key, `(B, NH, DQK)`.
    ///   - v: its value, `(B, NH, DHV)`.
    ///   - i: its input-gate pre-activation, `(B, NH, 1)`.
    ///   - f: its forget-gate pre-activation, `(B, NH, 1)`.
    ///   - state: the state before the token, shapes as in ``MLSTMState``.
    ///   - gate: the input gate.
    ///   - eps: added to the denominator (finite, ≥ 0).
    public static func step<Scalar: KernelScalar>(
        q: Tensor<Scalar>, k: Tensor<Scalar>, v: Tensor<Scalar>,
        i: Tensor<Scalar>, f: Tensor<Scalar>,
        state: MLSTMState<Scalar>, gate: Gate, eps: Scalar = 1e-6
    ) throws(TFLAError) -> MLSTMOutput<Scalar> {
        try Validation.requireRank(q, 3, "q")
        try Validation.requireNonEmpty(q, "q")
        try Validation.requireRank(v, 3, "v")
        try Validation.requireNonEmpty(v, "v")
        let shape = ProblemShape(batch: q.shape[0], heads: q.shape[1], sequence: 1, keyDim: q.shape[2], valueDim: v.shape[2])
        try Validation.requireShape(k, q.shape, "k")
        try Validation.requireShape(v, [shape.batch, shape.heads, shape.valueDim], "v")
        try Validation.requireShape(i, shape.stabilizerShape, "i")
        try Validation.requireShape(f, shape.stabilizerShape, "f")
        try Validation.requireEps(eps)
        try state.validate(for: shape, gate: gate, prefix: "state ")
        let token = MLSTMInputs(q: q, k: k, v: v, i: i, f: f)
        try token.validateValues(gate: gate)
        try MemoryBudget.require(shape.outputBytes(scalar: MemoryLayout<Scalar>.size), for: "step")
        var next = state
        var h = Tensor<Scalar>(shape: [shape.batch, shape.heads, shape.valueDim])
        // One token: the sequence form with S = 1 (the same layout).
        run(token, shape: shape, gate: gate, eps: eps, state: &next, h: &h)
        return MLSTMOutput(h: h, state: next)
    }

    /// One token of one head: updates (C, n, m) in place and writes h.
    ///
    ///     m' = max(lf + m, ĩ)        (m' = 0 for the sigmoid gate)
    ///     C' = e^{lf+m−m'} C + e^{ĩ−m'} k vᵀ,   n' likewise with k
    ///     h  = q̂ᵀC' / (max(|q̂·n'|, e^{−m'}) + eps)
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func advance<Scalar: KernelScalar>(
        gate: Gate, eps: Scalar, dqk: Int, dhv: Int,
        q: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>,
        i: Scalar, f: Scalar,
        c: UnsafeMutablePointer<Scalar>, n: UnsafeMutablePointer<Scalar>, m: UnsafeMutablePointer<Scalar>,
        h: UnsafeMutablePointer<Scalar>
    ) {
        let scale = 1 / Scalar.sqrt(Scalar(dqk))
        let rule = StabilizerRule(gate: gate, token: f, i, previous: m.pointee)
        let (mNew, forget, input) = (rule.stabilizer, rule.carriedScale, rule.newScale)
        m.pointee = mNew
        for row in 0..<dqk {
            let ki = input * k[row]
            n[row] = forget * n[row] + ki
            for col in 0..<dhv {
                c[row * dhv + col] = forget * c[row * dhv + col] + ki * v[col]
            }
        }
        var qn: Scalar = 0
        for col in 0..<dhv { h[col] = 0 }
        for row in 0..<dqk {
            let qs = scale * q[row]
            qn += qs * n[row]
            for col in 0..<dhv { h[col] += qs * c[row * dhv + col] }
        }
        if gate.normalizes {
            let denominator = max(abs(qn), Scalar.exp(-mNew)) + eps
            divide(h, count: dhv, by: denominator)
        }
    }
}

/// h ← h / denominator, for a normalized output row. The denominator
/// max(|q̂·n|, e^{−m}) + eps is positive in exact arithmetic; it is 0 only
/// when eps = 0, q̂·n = 0 and e^{−m} underflowed (`Documentation.docc/Math.md`,
/// "Non-finite inputs"). Then a zero numerator gives 0 (0 over a positive
/// number), and any other the overflow (±∞) that the true quotient is.
@inline(__always)
func divide<Scalar: KernelScalar>(_ h: UnsafeMutablePointer<Scalar>, count: Int, by denominator: Scalar) {
    if denominator == 0 {
        for col in 0..<count where h[col] != 0 { h[col] = h[col] / denominator }
    } else {
        for col in 0..<count { h[col] /= denominator }
    }
}
