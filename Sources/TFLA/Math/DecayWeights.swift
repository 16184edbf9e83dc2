import RealModule

// The elementwise step of the intra-chunk product: one row of s·QKᵀ times
// its decay weights exp(A_t + B_j) (`Documentation.docc/Math.md` §6), vectorized.
//
// The exponent is formed in Double (A_t and B_j can be thousands apart from
// zero for extreme gates) and is ≤ 0 for visible keys. The float32 version
// rounds the exponent to Float before a SIMD16 exp; that rounding changes a
// weight e^x by at most |x|·e^x·2^−24 ≤ 0.37·2^−24 in absolute terms, below
// the float32 rounding of the product itself.
//
// Package access: the kernels and tests call it; it is not part of the
// library's public API.
extension KernelScalar {
    /// Multiplies `row[j]` by exp(rowTerm + columnTerms[j]) for
    /// `j < visible`, zeroes `row[visible..<count]`, returns the row's sum:
    /// the Float or Double version, chosen by the scalar type (a comparison
    /// of metatypes that specialization folds away).
    @inline(__always)
    package static func applyDecay(
        _ row: UnsafeMutablePointer<Self>, count: Int, visible: Int,
        rowTerm: Double, columnTerms: UnsafePointer<Double>
    ) -> Self {
        if Self.self == Float.self {
            return Self(Float.applyDecay(rebound(row), count: count, visible: visible,
                                         rowTerm: rowTerm, columnTerms: columnTerms))
        } else if Self.self == Double.self {
            return Self(Double.applyDecay(rebound(row), count: count, visible: visible,
                                          rowTerm: rowTerm, columnTerms: columnTerms))
        }
        preconditionFailure("no decay row for \(Self.self)")
    }
}

extension Float {
    /// ``KernelScalar/applyDecay(_:count:visible:rowTerm:columnTerms:)`` in
    /// float32, 16 lanes at a time.
    package static func applyDecay(
        _ row: UnsafeMutablePointer<Float>, count: Int, visible: Int,
        rowTerm: Double, columnTerms: UnsafePointer<Double>
    ) -> Float {
        typealias V = SIMD16<Float>
        var sums = V()
        var j = 0
        while j + 16 <= visible {
            var exponent = V()
            for lane in 0..<16 { exponent[lane] = Float(rowTerm + columnTerms[j &+ lane]) }
            let weights = VectorMath.exp(exponent)
            let raw = UnsafeRawPointer(row + j)
            let products = raw.loadUnaligned(as: V.self) * weights
            UnsafeMutableRawPointer(row + j).storeBytes(of: products, as: V.self)
            sums += products
            j &+= 16
        }
        var sum = sums.sum()
        while j < visible {
            let product = row[j] * Float(_exp(rowTerm + columnTerms[j]))
            row[j] = product
            sum += product
            j &+= 1
        }
        if visible < count { (row + visible).update(repeating: 0, count: count - visible) }
        return sum
    }
}

extension Double {
    /// ``KernelScalar/applyDecay(_:count:visible:rowTerm:columnTerms:)`` in
    /// float64, 8 lanes at a time.
    package static func applyDecay(
        _ row: UnsafeMutablePointer<Double>, count: Int, visible: Int,
        rowTerm: Double, columnTerms: UnsafePointer<Double>
    ) -> Double {
        typealias V = SIMD8<Double>
        var sums = V()
        var j = 0
        let shift = V(repeating: rowTerm)
        while j + 8 <= visible {
            let exponent = shift + UnsafeRawPointer(columnTerms + j).loadUnaligned(as: V.self)
            let products = UnsafeRawPointer(row + j).loadUnaligned(as: V.self) * VectorMath.exp(exponent)
            UnsafeMutableRawPointer(row + j).storeBytes(of: products, as: V.self)
            sums += products
            j &+= 8
        }
        var sum = sums.sum()
        while j < visible {
            let product = row[j] * _exp(rowTerm + columnTerms[j])
            row[j] = product
            sum += product
            j &+= 1
        }
        if visible < count { (row + visible).update(repeating: 0, count: count - visible) }
        return sum
    }
}

@usableFromInline @inline(__always)
func _exp(_ x: Double) -> Double {
    Double.exp(x)
}
