// Vectorized elementwise math: the namespace and its lane selection. The
// function itself is in VectorExp.swift; the library uses it for the decay
// weights of the intra-chunk product (DecayWeights.swift).
//
// Everything is `@inlinable @inline(__always)` so that it specializes into
// the calling kernel (a non-inlined generic call costs far more than the math,
// 200× in a measured case, Docs/design.md "Vector math"), and written with the
// operations that lower to single AVX-512 instructions under
// Scripts/setup/swift-flags.sh: `addingProduct` for FMA, `select` (below) for
// per-lane choices (a masked move, vminps or vmaxps), `unsafeBitCast`
// between float and integer lanes, and the 1.5·2^p shifter instead of
// per-lane float↔integer conversions. Each function is a single basic block
// in SIL, so that inlining it never trips the inliner's size limits.

/// Vectorized elementwise `exp` on `SIMD16<Float>` and `SIMD8<Double>` (one
/// AVX-512 register each).
///
/// Maximum relative error measured by the `VectorMath` tests (dense sweeps,
/// Float against libm in Double, Double against libm in Float80; results
/// that are normal numbers), with the bound the tests assert:
///
/// | function | Float                      | Double                       |
/// |----------|----------------------------|------------------------------|
/// | `exp`    | 7.5e-8 (0.87 ulp) ≤ 1.5e-7 | 1.4e-16 (0.89 ulp) ≤ 2.5e-16 |
///
/// Special values follow C's `exp` (overflow gives +∞, exp(−∞) = 0, NaN
/// propagates) with one exception: results smaller than the least normal
/// number are flushed to 0, because producing a subnormal costs a microcode
/// assist on x86 (see `exp(_:)`).
///
/// Package access: the kernels' decay weights and the tests use it; it is
/// not part of the library's public API.
@usableFromInline
package enum VectorMath {}

// MARK: - Lane selection

extension VectorMath {
    /// `a` in the lanes where `mask` is set, `b` elsewhere.
    ///
    /// `replacing(with:where:)` would do, and becomes the same single
    /// masked move, but the SIL optimizer first expands it into three basic
    /// blocks per lane (48 for SIMD16). A few of them push a caller past the
    /// SIL inliner's 400-block limit, after which even `@inline(__always)`
    /// calls stay calls (with their vectors passed as four xmm registers).
    /// This form is straight-line code.
    @inlinable @inline(__always)
    static func select(_ mask: SIMDMask<SIMD16<Int32>>, _ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
        let a = unsafeBitCast(a, to: SIMD16<Int32>.self), b = unsafeBitCast(b, to: SIMD16<Int32>.self)
        // b ^ ((a ^ b) & m); the and/or form confuses LLVM's mask lowering.
        return unsafeBitCast(b ^ ((a ^ b) & mask._storage), to: SIMD16<Float>.self)
    }

    /// `a` in the lanes where `mask` is set, `b` elsewhere.
    @inlinable @inline(__always)
    static func select(_ mask: SIMDMask<SIMD8<Int64>>, _ a: SIMD8<Double>, _ b: SIMD8<Double>) -> SIMD8<Double> {
        let a = unsafeBitCast(a, to: SIMD8<Int64>.self), b = unsafeBitCast(b, to: SIMD8<Int64>.self)
        return unsafeBitCast(b ^ ((a ^ b) & mask._storage), to: SIMD8<Double>.self)
    }
}
