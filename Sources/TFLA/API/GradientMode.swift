/// Which gradient a backward pass computes (`Documentation.docc/BackwardPass.md`).
public enum GradientMode: String, Sendable, Hashable, CaseIterable {
    /// The true gradient of the forward function: through the normalizer
    /// (the denominator's |·| and max) and through the stabilizer m where it
    /// enters (eps·exp(m) and the final state's scale).
    case exact
    /// The convention of the reference package's fast backward kernels
    /// (`chunkwise--native_custbw`, the Triton kernels): the denominator and
    /// m are held constant; upstream gradients of the final n and m are
    /// ignored and dn0 = dm0 = 0. Right only when h next passes through a
    /// per-(token, head) scale-invariant norm; use it to compare like for
    /// like with those kernels.
    case reference
}
