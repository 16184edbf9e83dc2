import RealModule

/// The input gate of the mLSTM, with its normalization.
///
/// Both gates share one code path in every kernel. The exponential gate
/// (mLSTMexp) uses `exp(ĩ)` as input weight and carries a running maximum `m`
/// that keeps all exponentials bounded; the sigmoid gate (mLSTMsig) uses
/// `σ(ĩ)`, all of whose log-weights are ≤ 0, so it needs no `m` (m ≡ 0) and
/// the denominator's lower bound is `exp(−0) = 1`. See `Documentation.docc/Math.md` §1–2.
public enum Gate: Sendable, Hashable, CustomStringConvertible {
    /// Exponential input gate (mLSTMexp); the output is always normalized.
    case exponential
    /// Sigmoid input gate (mLSTMsig); `normalize: false` drops the
    /// denominator and returns `q̂ᵀC` unnormalized.
    case sigmoid(normalize: Bool)

    /// Whether the gate tracks the stabilizer state `m` (else m ≡ 0).
    @inlinable public var isStabilized: Bool {
        if case .exponential = self { return true }
        return false
    }

    /// Whether outputs are divided by the normalizer.
    @inlinable public var normalizes: Bool {
        switch self {
        case .exponential: return true
        case let .sigmoid(normalize): return normalize
        }
    }

    /// The log input weight for a pre-activation ĩ: ĩ itself, or logσ(ĩ).
    /// Package access, as `logSigmoid`: a helper of the kernels.
    @inlinable package func logInputWeight<T: Real>(_ preactivation: T) -> T {
        isStabilized ? preactivation : logSigmoid(preactivation)
    }

    /// `exp`, `sig` or `sig (unnormalized)`.
    public var description: String {
        switch self {
        case .exponential: return "exp"
        case let .sigmoid(normalize): return normalize ? "sig" : "sig (unnormalized)"
        }
    }
}

/// logσ(x) = −softplus(−x), exact for large |x| of either sign.
///
/// Package access: the kernels and tests use it; it is not part of the
/// library's public API.
@inlinable
package func logSigmoid<T: Real>(_ x: T) -> T {
    // min(x, 0) − log(1 + e^{−|x|}): no overflow, and log1p keeps the small
    // tail accurate where logσ(x) ≈ −e^{−x}.
    Swift.min(x, 0) - T.log(onePlus: T.exp(-abs(x)))
}

/// σ(x) = 1 / (1 + e^{−x}), without overflow for large |x|.
@inlinable
func sigmoid<T: Real>(_ x: T) -> T {
    x >= 0 ? 1 / (1 + T.exp(-x)) : T.exp(x) / (1 + T.exp(x))
}
