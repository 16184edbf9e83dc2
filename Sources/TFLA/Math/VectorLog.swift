// Vectorized log, log1p on [0, 1] and logσ on SIMD16<Float> / SIMD8<Double>.
//
// log(x): write x = 2^e · m with m in [√½, √2) (from the exponent bits,
// subnormals pre-scaled), f = m − 1 exactly, and log x = e·ln2 + log1p(f).
// log1p(f) for f in [−0.293, 0.415]:
//   Float:  f − f²/2 + f³·P(f), P a degree-7 minimax polynomial (no division).
//   Double: with s = f/(2+f), log1p(f) = f − (f²/2 − s·(f²/2 + R(s²))), R a
//           degree-7 minimax polynomial in z = s² (fdlibm's arrangement: the
//           rounding of s only touches a small correction term).
// log1p(u) for u in [0, 1], as logσ needs it: u < ½ gives f = u, e = 0; u ≥ ½
// gives f = (u − 1)/2, e = 1, both exact, so no rounding of 1 + u is ever
// made and small u keeps full relative accuracy. The Float kernel for that
// f range [−¼, ½] has its own coefficients; the Double R covers z ≤ 0.04,
// enough for both ranges.
// Coefficients were fitted by Remez exchange; truncation error after rounding
// them: Float 6.4e-9 (log) and 9.8e-9 (log1p) relative, Double R 3.1e-17.
// For tiny u the terms after f are computed from 0 instead of f: they are far
// below half an ulp, and their products would underflow, which costs a
// microcode assist on x86 (logσ(x) for x > 44 hit it in every vector).

extension VectorMath {
    /// The natural logarithm of each of 16 `Float` lanes.
    ///
    /// Max relative error 7.9e-8 (0.88 ulp) measured, near x = 1 too.
    /// Subnormal inputs are scaled into the normal range first.
    /// log(±0) = −∞, log(x < 0) = NaN, log(+∞) = +∞, NaN → NaN.
    @inlinable @inline(__always)
    public static func log(_ x: SIMD16<Float>) -> SIMD16<Float> {
        typealias V = SIMD16<Float>
        typealias I = SIMD16<Int32>
        // Subnormals (and the ≤ 0 lanes, fixed up below) get 23 more exponent bits.
        let tiny = x .< V(repeating: Float.leastNormalMagnitude)
        let y = select(tiny, x * V(repeating: 8_388_608), x)
        let bias = select(tiny, V(repeating: -23), V(repeating: 0))
        let bits = unsafeBitCast(y, to: I.self)
        // k = e such that m = y·2^−e lands in [√½, √2): offset by √½'s bits.
        let k = (bits &- 0x3F35_04F3) &>> 23
        let m = unsafeBitCast(bits &- (k &<< 23), to: V.self)
        // Int32 → Float by the 1.5·2^23 shifter (|k| < 2^22).
        let e = (unsafeBitCast(k &+ 0x4B40_0000, to: V.self) - V(repeating: 12_582_912)) + bias
        let f = m - 1
        var p = V(repeating: -0.076_345_01)
        p = V(repeating: 0.127_615_76).addingProduct(p, f)
        p = V(repeating: -0.131_601_81).addingProduct(p, f)
        p = V(repeating: 0.142_017_57).addingProduct(p, f)
        p = V(repeating: -0.166_233_57).addingProduct(p, f)
        p = V(repeating: 0.200_012_27).addingProduct(p, f)
        p = V(repeating: -0.250_008_2).addingProduct(p, f)
        p = V(repeating: 0.333_333_3).addingProduct(p, f)
        var result = logCombine(f: f, g: f, p: p, e: e)
        // Special lanes, in order of precedence.
        result = select(x .== V(repeating: .infinity), V(repeating: .infinity), result)
        result = select(x .== V(repeating: 0), V(repeating: -.infinity), result)
        result = select(x .< V(repeating: 0), V(repeating: .nan), result)
        return select(x .!= x, x, result)
    }

    /// log(1 + x) for each of 16 `Float` lanes, for 0 ≤ x ≤ 1.
    ///
    /// The range ``logSigmoid(_:)-(SIMD16<Float>)`` needs. Max relative
    /// error 8.0e-8 (0.94 ulp) measured, also for tiny and subnormal x
    /// (where log1p x ≈ x). Lanes outside [0, 1], or NaN, give NaN.
    @inlinable @inline(__always)
    public static func log1p(_ x: SIMD16<Float>) -> SIMD16<Float> {
        let inDomain = (x .>= SIMD16<Float>(repeating: 0)) .& (x .<= SIMD16<Float>(repeating: 1))
        return select(inDomain, log1pUnit(x), SIMD16<Float>(repeating: .nan))
    }

    /// log1p on [0, 1] without the domain check.
    @inlinable @inline(__always)
    static func log1pUnit(_ u: SIMD16<Float>) -> SIMD16<Float> {
        typealias V = SIMD16<Float>
        // 1 + u = 2·(1 + (u − 1)/2) for u ≥ ½; both f's are exact.
        let upper = u .>= V(repeating: 0.5)
        let f = select(upper, V(repeating: -0.5).addingProduct(u, V(repeating: 0.5)), u)
        let e = select(upper, V(repeating: 1), V(repeating: 0))
        // Below 2^−30 the terms after f are < 2^−31·f (see the top).
        let g = select(u .< V(repeating: 0x1p-30), V(repeating: 0), f)
        var p = V(repeating: -0.045_074_794)
        p = V(repeating: 0.104_630_2).addingProduct(p, g)
        p = V(repeating: -0.131_611_91).addingProduct(p, g)
        p = V(repeating: 0.144_783_94).addingProduct(p, g)
        p = V(repeating: -0.166_473_12).addingProduct(p, g)
        p = V(repeating: 0.199_908_61).addingProduct(p, g)
        p = V(repeating: -0.250_000_95).addingProduct(p, g)
        p = V(repeating: 0.333_334_5).addingProduct(p, g)
        return logCombine(f: f, g: g, p: p, e: e)
    }

    /// e·ln2 + f + g²·(P(g)·g − ½), summed small to large; g is f, or 0
    /// where f is too small for the terms after it to count.
    @inlinable @inline(__always)
    static func logCombine(f: SIMD16<Float>, g: SIMD16<Float>, p: SIMD16<Float>, e: SIMD16<Float>) -> SIMD16<Float> {
        typealias V = SIMD16<Float>
        let q = V(repeating: -0.5).addingProduct(p, g)
        // ln2_hi = 0.693359375 has 9 significant bits: e·ln2_hi is exact.
        let small = (e * V(repeating: -2.121_944_4e-4)).addingProduct(g * g, q)
        return (f + small).addingProduct(e, V(repeating: 0.693_359_375))
    }

    /// The natural logarithm of each of 8 `Double` lanes.
    ///
    /// Max relative error 1.5e-16 (0.88 ulp) measured. Subnormal inputs are
    /// scaled into the normal range first. log(±0) = −∞, log(x < 0) = NaN,
    /// log(+∞) = +∞, NaN → NaN.
    @inlinable @inline(__always)
    public static func log(_ x: SIMD8<Double>) -> SIMD8<Double> {
        typealias V = SIMD8<Double>
        typealias I = SIMD8<Int64>
        let tiny = x .< V(repeating: Double.leastNormalMagnitude)
        let y = select(tiny, x * V(repeating: 4_503_599_627_370_496), x)  // 2^52
        let bias = select(tiny, V(repeating: -52), V(repeating: 0))
        let bits = unsafeBitCast(y, to: I.self)
        let k = (bits &- 0x3FE6_A09E_667F_3BCD) &>> 52  // offset by √½'s bits
        let m = unsafeBitCast(bits &- (k &<< 52), to: V.self)
        // Int64 → Double by the 1.5·2^52 shifter (|k| < 2^51).
        let e = (unsafeBitCast(k &+ 0x4338_0000_0000_0000, to: V.self) - V(repeating: 6_755_399_441_055_744)) + bias
        let f = m - 1
        var result = logKernel(f: f, g: f, e: e)
        result = select(x .== V(repeating: .infinity), V(repeating: .infinity), result)
        result = select(x .== V(repeating: 0), V(repeating: -.infinity), result)
        result = select(x .< V(repeating: 0), V(repeating: .nan), result)
        return select(x .!= x, x, result)
    }

    /// log(1 + x) for each of 8 `Double` lanes, for 0 ≤ x ≤ 1.
    ///
    /// Max relative error 1.5e-16 (0.92 ulp) measured, also for tiny and
    /// subnormal x. Lanes outside [0, 1], or NaN, give NaN.
    @inlinable @inline(__always)
    public static func log1p(_ x: SIMD8<Double>) -> SIMD8<Double> {
        let inDomain = (x .>= SIMD8<Double>(repeating: 0)) .& (x .<= SIMD8<Double>(repeating: 1))
        return select(inDomain, log1pUnit(x), SIMD8<Double>(repeating: .nan))
    }

    /// log1p on [0, 1] without the domain check.
    @inlinable @inline(__always)
    static func log1pUnit(_ u: SIMD8<Double>) -> SIMD8<Double> {
        typealias V = SIMD8<Double>
        let upper = u .>= V(repeating: 0.5)
        let f = select(upper, V(repeating: -0.5).addingProduct(u, V(repeating: 0.5)), u)
        let e = select(upper, V(repeating: 1), V(repeating: 0))
        // As in the Float version: below 2^−200 only f counts.
        let g = select(u .< V(repeating: 0x1p-200), V(repeating: 0), f)
        return logKernel(f: f, g: g, e: e)
    }

    /// e·ln2 + log1p(f) for f in [−0.293, 0.5] (fdlibm's arrangement); g is
    /// f, or 0 where f is too small for the terms after it to count.
    @inlinable @inline(__always)
    static func logKernel(f: SIMD8<Double>, g: SIMD8<Double>, e: SIMD8<Double>) -> SIMD8<Double> {
        typealias V = SIMD8<Double>
        let s = g / (V(repeating: 2) + g)
        let z = s * s
        var r = V(repeating: 0.153_681_910_250_587_28)
        r = V(repeating: 0.152_501_885_828_058).addingProduct(r, z)
        r = V(repeating: 0.181_863_560_692_437_28).addingProduct(r, z)
        r = V(repeating: 0.222_221_385_015_512_5).addingProduct(r, z)
        r = V(repeating: 0.285_714_293_952_902_3).addingProduct(r, z)
        r = V(repeating: 0.399_999_999_961_616_7).addingProduct(r, z)
        r = V(repeating: 0.666_666_666_666_727_1).addingProduct(r, z)
        r = r * z
        let hfsq = V(repeating: 0.5) * g * g
        // ln2_hi has 32 significant bits: e·ln2_hi is exact.
        let correction = (e * V(repeating: 1.908_214_929_270_587_700_02e-10)).addingProduct(s, hfsq + r)
        return (f - (hfsq - correction)).addingProduct(e, V(repeating: 6.931_471_803_691_238_164_9e-1))
    }

    /// logσ(x) = min(x, 0) − log1p(e^−|x|) for each of 16 `Float` lanes.
    ///
    /// Keeps full relative accuracy for large positive x, where
    /// logσ(x) ≈ −e^−x, and for large negative x, where logσ(x) ≈ x:
    /// max relative error 1.2e-7 (1.52 ulp) measured over [−120, 120]
    /// wherever the result is a normal number. For x > 87.34, where it would
    /// be subnormal, the result is 0. logσ(+∞) = 0, logσ(−∞) = −∞,
    /// NaN → NaN.
    @inlinable @inline(__always)
    public static func logSigmoid(_ x: SIMD16<Float>) -> SIMD16<Float> {
        // −|x| by setting the sign bit.
        let negAbs = unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) | 0x8000_0000, to: SIMD16<Float>.self)
        let head = select(x .> SIMD16<Float>(repeating: 0), SIMD16<Float>(repeating: 0), x)
        return head - log1pUnit(exp(negAbs))
    }

    /// logσ(x) = min(x, 0) − log1p(e^−|x|) for each of 8 `Double` lanes.
    ///
    /// Max relative error 2.2e-16 (1.49 ulp) measured over [−800, 800]
    /// wherever the result is a normal number; 0 for x > 708.40, where it
    /// would be subnormal. logσ(+∞) = 0, logσ(−∞) = −∞, NaN → NaN.
    @inlinable @inline(__always)
    public static func logSigmoid(_ x: SIMD8<Double>) -> SIMD8<Double> {
        let negAbs = unsafeBitCast(
            unsafeBitCast(x, to: SIMD8<UInt64>.self) | 0x8000_0000_0000_0000, to: SIMD8<Double>.self)
        let head = select(x .> SIMD8<Double>(repeating: 0), SIMD8<Double>(repeating: 0), x)
        return head - log1pUnit(exp(negAbs))
    }
}
