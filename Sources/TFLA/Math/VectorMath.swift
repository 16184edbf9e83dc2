// Vectorized elementwise math: the namespace, the protocol that lets kernels
// generic over Float/Double call it, and the in-place buffer helpers.
// The functions themselves are in VectorExp.swift and VectorLog.swift.
//
// Everything is `@inlinable @inline(__always)` so that it specializes into
// the calling kernel (a non-inlined generic call costs far more than the math,
// 200× in a measured case, Docs/design.md "Vector math"), and written with the
// operations that lower to single AVX-512 instructions under
// Scripts/swift-flags.sh: `addingProduct` for FMA, `select` (below) for
// per-lane choices (a masked move, vminps or vmaxps), `unsafeBitCast`
// between float and integer lanes, and the 1.5·2^p shifter instead of
// per-lane float↔integer conversions. Each function is a single basic block
// in SIL, so that inlining it never trips the inliner's size limits.

/// Vectorized elementwise `exp`, `log`, `log1p`, `logSigmoid` and `sigmoid`
/// on `SIMD16<Float>` and `SIMD8<Double>` (one AVX-512 register each), and
/// in-place versions for buffers of any length.
///
/// Maximum relative error measured by the `VectorMath` tests (dense sweeps,
/// Float against libm in Double, Double against libm in Float80; results
/// that are normal numbers), with the bound the tests assert:
///
/// | function          | Float                      | Double                      |
/// |-------------------|----------------------------|-----------------------------|
/// | `exp`             | 7.5e-8 (0.87 ulp) ≤ 1.5e-7 | 1.4e-16 (0.89 ulp) ≤ 2.5e-16 |
/// | `log`             | 7.9e-8 (0.88 ulp) ≤ 1.5e-7 | 1.5e-16 (0.88 ulp) ≤ 2.5e-16 |
/// | `log1p` on [0, 1] | 8.0e-8 (0.94 ulp) ≤ 1.5e-7 | 1.5e-16 (0.92 ulp) ≤ 2.5e-16 |
/// | `logSigmoid`      | 1.2e-7 (1.52 ulp) ≤ 2e-7   | 2.2e-16 (1.49 ulp) ≤ 4e-16  |
/// | `sigmoid`         | 1.7e-7 (2.18 ulp) ≤ 2.5e-7 | 3.2e-16 (1.96 ulp) ≤ 5e-16  |
///
/// Special values follow C's `exp`/`log` (overflow gives +∞, log(0) = −∞,
/// log of a negative number is NaN, NaN propagates) with one exception:
/// results smaller than the least normal number are flushed to 0, because
/// producing a subnormal costs a microcode assist on x86 (see
/// ``exp(_:)-(SIMD16<Float>)``).
public enum VectorMath {}

/// A floating-point type with a native SIMD vector for ``VectorMath``:
/// `Float` (`SIMD16<Float>`) and `Double` (`SIMD8<Double>`).
///
/// Lets a kernel generic over its scalar call `Scalar.vexp(v)`; once the
/// kernel is specialized the call inlines to the concrete implementation.
/// (`Codable` because `SIMD` vectors are, given `Vector.Scalar == Self`.)
public protocol VectorMathScalar: BinaryFloatingPoint, SIMDScalar, Codable {
    /// The vector type the functions work on: 512 bits of `Self`.
    associatedtype Vector: SIMD where Vector.Scalar == Self
    /// e^x per lane (``VectorMath/exp(_:)-(SIMD16<Float>)``).
    static func vexp(_ x: Vector) -> Vector
    /// The natural logarithm per lane (``VectorMath/log(_:)-(SIMD16<Float>)``).
    static func vlog(_ x: Vector) -> Vector
    /// log(1 + x) per lane for 0 ≤ x ≤ 1, NaN elsewhere
    /// (``VectorMath/log1p(_:)-(SIMD16<Float>)``).
    static func vlog1p(_ x: Vector) -> Vector
    /// logσ(x) = −log(1 + e^−x) per lane (``VectorMath/logSigmoid(_:)-(SIMD16<Float>)``).
    static func vlogSigmoid(_ x: Vector) -> Vector
    /// σ(x) = 1 / (1 + e^−x) per lane (``VectorMath/sigmoid(_:)-(SIMD16<Float>)``).
    static func vsigmoid(_ x: Vector) -> Vector
}

extension Float: VectorMathScalar {
    public typealias Vector = SIMD16<Float>
    @inlinable @inline(__always) public static func vexp(_ x: Vector) -> Vector { VectorMath.exp(x) }
    @inlinable @inline(__always) public static func vlog(_ x: Vector) -> Vector { VectorMath.log(x) }
    @inlinable @inline(__always) public static func vlog1p(_ x: Vector) -> Vector { VectorMath.log1p(x) }
    @inlinable @inline(__always) public static func vlogSigmoid(_ x: Vector) -> Vector { VectorMath.logSigmoid(x) }
    @inlinable @inline(__always) public static func vsigmoid(_ x: Vector) -> Vector { VectorMath.sigmoid(x) }
}

extension Double: VectorMathScalar {
    public typealias Vector = SIMD8<Double>
    @inlinable @inline(__always) public static func vexp(_ x: Vector) -> Vector { VectorMath.exp(x) }
    @inlinable @inline(__always) public static func vlog(_ x: Vector) -> Vector { VectorMath.log(x) }
    @inlinable @inline(__always) public static func vlog1p(_ x: Vector) -> Vector { VectorMath.log1p(x) }
    @inlinable @inline(__always) public static func vlogSigmoid(_ x: Vector) -> Vector { VectorMath.logSigmoid(x) }
    @inlinable @inline(__always) public static func vsigmoid(_ x: Vector) -> Vector { VectorMath.sigmoid(x) }
}

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

// MARK: - In-place buffer versions
//
// Two flavours with the same names: generic ones, inlined into the caller so
// that a kernel generic over its scalar gets the loop specialized in place,
// and concrete Float/Double ones compiled once in this module (a call per
// buffer, the AVX-512 loop inside), which overload resolution prefers for
// concrete buffers.

extension VectorMath {
    /// Replaces every element of `buffer` by e^x.
    public static func exp(_ buffer: UnsafeMutableBufferPointer<Float>) { apply(buffer, padding: 0) { exp($0) } }
    /// Replaces every element of `buffer` by e^x.
    public static func exp(_ buffer: UnsafeMutableBufferPointer<Double>) { apply(buffer, padding: 0) { exp($0) } }
    /// Replaces every element of `buffer` by its natural logarithm.
    public static func log(_ buffer: UnsafeMutableBufferPointer<Float>) { apply(buffer, padding: 1) { log($0) } }
    /// Replaces every element of `buffer` by its natural logarithm.
    public static func log(_ buffer: UnsafeMutableBufferPointer<Double>) { apply(buffer, padding: 1) { log($0) } }
    /// Replaces every element x of `buffer` by log(1 + x); elements must lie
    /// in [0, 1] (others become NaN).
    public static func log1p(_ buffer: UnsafeMutableBufferPointer<Float>) { apply(buffer, padding: 0) { log1p($0) } }
    /// Replaces every element x of `buffer` by log(1 + x); elements must lie
    /// in [0, 1] (others become NaN).
    public static func log1p(_ buffer: UnsafeMutableBufferPointer<Double>) { apply(buffer, padding: 0) { log1p($0) } }
    /// Replaces every element of `buffer` by logσ(x).
    public static func logSigmoid(_ buffer: UnsafeMutableBufferPointer<Float>) {
        apply(buffer, padding: 0) { logSigmoid($0) }
    }
    /// Replaces every element of `buffer` by logσ(x).
    public static func logSigmoid(_ buffer: UnsafeMutableBufferPointer<Double>) {
        apply(buffer, padding: 0) { logSigmoid($0) }
    }
    /// Replaces every element of `buffer` by σ(x).
    public static func sigmoid(_ buffer: UnsafeMutableBufferPointer<Float>) {
        apply(buffer, padding: 0) { sigmoid($0) }
    }
    /// Replaces every element of `buffer` by σ(x).
    public static func sigmoid(_ buffer: UnsafeMutableBufferPointer<Double>) {
        apply(buffer, padding: 0) { sigmoid($0) }
    }

    /// Replaces every element of `buffer` by e^x.
    @inlinable @inline(__always)
    public static func exp<S: VectorMathScalar>(_ buffer: UnsafeMutableBufferPointer<S>) {
        apply(buffer, padding: 0) { S.vexp($0) }
    }

    /// Replaces every element of `buffer` by its natural logarithm.
    @inlinable @inline(__always)
    public static func log<S: VectorMathScalar>(_ buffer: UnsafeMutableBufferPointer<S>) {
        apply(buffer, padding: 1) { S.vlog($0) }
    }

    /// Replaces every element x of `buffer` by log(1 + x); elements must lie
    /// in [0, 1] (others become NaN).
    @inlinable @inline(__always)
    public static func log1p<S: VectorMathScalar>(_ buffer: UnsafeMutableBufferPointer<S>) {
        apply(buffer, padding: 0) { S.vlog1p($0) }
    }

    /// Replaces every element of `buffer` by logσ(x).
    @inlinable @inline(__always)
    public static func logSigmoid<S: VectorMathScalar>(_ buffer: UnsafeMutableBufferPointer<S>) {
        apply(buffer, padding: 0) { S.vlogSigmoid($0) }
    }

    /// Replaces every element of `buffer` by σ(x).
    @inlinable @inline(__always)
    public static func sigmoid<S: VectorMathScalar>(_ buffer: UnsafeMutableBufferPointer<S>) {
        apply(buffer, padding: 0) { S.vsigmoid($0) }
    }

    /// Applies `function` in place to `buffer`, a full vector at a time, then
    /// to the remaining `count % width` elements in one vector filled up with
    /// `padding` (a value the function maps without special cases).
    ///
    /// The buffer needs no alignment; elements past its end are never read
    /// or written. Pass a closure literal: a function reference is not
    /// always inlined into the loop.
    @inlinable @inline(__always)
    public static func apply<S: VectorMathScalar>(
        _ buffer: UnsafeMutableBufferPointer<S>, padding: S, _ function: (S.Vector) -> S.Vector
    ) {
        guard let base = buffer.baseAddress else { return }
        let count = buffer.count
        let width = S.Vector.scalarCount
        let raw = UnsafeMutableRawPointer(base)
        let stride = MemoryLayout<S>.stride
        var i = 0
        while i &+ width <= count {
            let offset = i &* stride
            let v = raw.loadUnaligned(fromByteOffset: offset, as: S.Vector.self)
            raw.storeBytes(of: function(v), toByteOffset: offset, as: S.Vector.self)
            i &+= width
        }
        let rest = count &- i
        guard rest > 0 else { return }
        var v = S.Vector(repeating: padding)
        for j in 0..<rest { v[j] = base[i &+ j] }
        let result = function(v)
        for j in 0..<rest { base[i &+ j] = result[j] }
    }
}
