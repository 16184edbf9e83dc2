import COpenBLAS

// Row-major general matrix product through OpenBLAS:
// `C ← alpha·op(A)·op(B) + beta·C`, with `op(X)` = X or Xᵀ.
//
// `A` is `m×k` after `op`, `B` is `k×n`, `C` is `m×n`; leading dimensions
// are row strides in elements. Package access: the kernels, tests and
// benchmarks call it; it is not part of the library's public API.

extension KernelScalar {
    /// `sgemm` or `dgemm`, chosen by the scalar type (a comparison of
    /// metatypes that specialization folds away).
    @inline(__always)
    package static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int,
        b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int
    ) {
        if Self.self == Float.self {
            Float.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                       alpha: Float(alpha), a: rebound(a), lda: lda, b: rebound(b), ldb: ldb,
                       beta: Float(beta), c: rebound(c), ldc: ldc)
        } else if Self.self == Double.self {
            Double.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                        alpha: Double(alpha), a: rebound(a), lda: lda, b: rebound(b), ldb: ldb,
                        beta: Double(beta), c: rebound(c), ldc: ldc)
        } else {
            preconditionFailure("no BLAS product for \(Self.self)")
        }
    }
}

/// `pointer` as a pointer to `T`, the type its memory holds (checked by the
/// caller).
@inline(__always)
func rebound<Source, T>(_ pointer: UnsafePointer<Source>) -> UnsafePointer<T> {
    UnsafeRawPointer(pointer).assumingMemoryBound(to: T.self)
}

/// `pointer` as a pointer to `T`, the type its memory holds (checked by the
/// caller).
@inline(__always)
func rebound<Source, T>(_ pointer: UnsafeMutablePointer<Source>) -> UnsafeMutablePointer<T> {
    UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: T.self)
}

extension Float {
    /// `cblas_sgemm`, row-major.
    package static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = BLAS.configuration
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc))
    }
}

extension Double {
    /// `cblas_dgemm`, row-major.
    package static func gemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        _ = BLAS.configuration
        cblas_dgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc))
    }
}
