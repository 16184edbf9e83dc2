import CTFLAKernels

/// The matrix products of the chunkwise forward, in one place: every
/// product the kernels compute goes through `ForwardContext.product`, which
/// routes it to the float32 routine (`Scalar.gemm`) or to the bf16 one
/// (`BF16Products`) as the call's precision says.
extension ChunkwiseOptions {
    /// The product routine in force for a call with these options.
    var productKernel: ProductKernel {
        switch precision {
        case .inputType: .float32
        case .bf16Products:
            .bf16(bf16Path == .automatic ? BF16Products.automaticPath : bf16Path, float32: bf16Float32Products)
        }
    }
}

/// Which routine computes a forward's products: the two precisions side by
/// side.
enum ProductKernel {
    /// `Scalar.gemm` (OpenBLAS) in the inputs' precision: float32, or
    /// float64 for Double inputs.
    case float32
    /// Both operands rounded to bfloat16, float32 accumulation
    /// (`BF16Products`), except for the products in `float32`, which run
    /// as `.float32`.
    case bf16(BF16Products.Path, float32: ForwardProducts)
}

/// The matrix products of the chunkwise forward, by what they compute
/// (`Documentation.docc/Math.md` §3).
package struct ForwardProducts: OptionSet, Sendable, Hashable {
    package let rawValue: Int
    package init(rawValue: Int) { self.rawValue = rawValue }

    /// s·QKᵀ, the intra-chunk scores: their decayed row sums are the
    /// intra-chunk part of the denominator.
    package static let scores = ForwardProducts(rawValue: 1 << 0)
    /// q·n, the inter-chunk part of the denominator.
    package static let normalizer = ForwardProducts(rawValue: 1 << 1)
    /// Q·C, the inter-chunk part of h's numerator.
    package static let inter = ForwardProducts(rawValue: 1 << 2)
    /// S̄·V, the intra-chunk part of h's numerator.
    package static let intra = ForwardProducts(rawValue: 1 << 3)
    /// (diag(w)K)ᵀV, the update of C.
    package static let state = ForwardProducts(rawValue: 1 << 4)

    /// The products behind the denominator max(|q̄·n + Σ_j S̄_tj|, e^{−m}):
    /// the ones ``ChunkwiseOptions/Precision/bf16Products`` keeps in float32.
    package static let denominator: ForwardProducts = [.scores, .normalizer]
    /// Every product.
    package static let all: ForwardProducts = [.scores, .normalizer, .inter, .intra, .state]
}

extension ForwardContext {
    /// Whether the state update hands the next chunk its C already packed
    /// for the AMX products.
    var packsState: Bool {
        // Only when both products that share the packed C round it.
        if case .bf16(let path, let float32) = products, path == .matrixUnits || path == .matrixUnitsPerProduct {
            return float32.isDisjoint(with: [.inter, .state])
        }
        return false
    }

    /// The state update's product `C ← decay·C + (Kw)ᵀV` (`weighted` holds
    /// Kw as `length × rows`), for all `rows` rows of C's tile. With
    /// `packInto` (AMX products only) it also leaves the new C, rounded to
    /// bfloat16, in the tile layout of ``interProduct(length:width:q:c:ldc:h:ldh:packedState:)``.
    func stateProduct(
        rows: Int, width: Int, length: Int, weighted: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>, ldv: Int,
        decay: Scalar, c: UnsafeMutablePointer<Scalar>, ldc: Int, packInto: UnsafeMutablePointer<UInt32>?
    ) {
        if let packInto {
            precondition(packsState && Scalar.self == Float.self, "a packed state needs AMX products")
            tfla_amx_bf16_gemm_packing_result(true, false, rows, width, length, 1, rebound(weighted), rows,
                                              rebound(v), ldv, Float(decay.doubleValue), rebound(c), ldc, packInto)
            return
        }
        product(.state, transposeA: true, transposeB: false, m: rows, n: width, k: length,
                alpha: 1, a: weighted, lda: rows, b: v, ldb: ldv, beta: decay, c: c, ldc: ldc)
    }

    /// The inter-chunk product `h ← Q·C` for one chunk, from C or from its
    /// packed copy (the same bits).
    func interProduct(
        length: Int, width: Int, q: UnsafePointer<Scalar>, c: UnsafePointer<Scalar>, ldc: Int,
        h: UnsafeMutablePointer<Scalar>, ldh: Int, packedState: UnsafePointer<UInt32>?
    ) {
        let dqk = shape.keyDim
        if let packedState {
            precondition(packsState && Scalar.self == Float.self, "a packed state needs AMX products")
            tfla_amx_bf16_gemm_packed_b(false, length, width, dqk, 1, rebound(q), dqk, packedState, 0, rebound(h), ldh)
            return
        }
        product(.inter, transposeA: false, transposeB: false, m: length, n: width, k: dqk,
                alpha: 1, a: q, lda: dqk, b: c, ldb: ldc, beta: 0, c: h, ldc: ldh)
    }

    /// The forward's matrix product `role`: `Scalar.gemm`, or bf16 products
    /// when the call asked for them and does not keep `role` in float32
    /// (Float only, checked at the entry point).
    @inline(__always)
    func product(
        _ role: ForwardProducts, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Scalar, a: UnsafePointer<Scalar>, lda: Int, b: UnsafePointer<Scalar>, ldb: Int,
        beta: Scalar, c: UnsafeMutablePointer<Scalar>, ldc: Int
    ) {
        switch products {
        case .bf16(let path, let float32) where !float32.contains(role):
            precondition(Scalar.self == Float.self, "bf16 products need Float")
            BF16Products.gemm(path: path, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                              alpha: Float(alpha.doubleValue), a: rebound(a), lda: lda, b: rebound(b), ldb: ldb,
                              beta: Float(beta.doubleValue), c: rebound(c), ldc: ldc)
        case .bf16 where n == 1 && !transposeA && !transposeB:
            precondition(Scalar.self == Float.self, "bf16 products need Float")
            // q·n kept in float32: a matrix-vector loop (sgemm's packing for
            // one column costs more than the product).
            BF16Products.float32MatrixVector(m: m, k: k, alpha: Float(alpha.doubleValue), a: rebound(a), lda: lda,
                                             x: rebound(b), incx: ldb, beta: Float(beta.doubleValue),
                                             y: rebound(c), incy: ldc)
        case .float32, .bf16:
            Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }
}
