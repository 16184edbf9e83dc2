import CTFLAKernels

extension ChunkwiseOptions {
    /// The precision of the chunkwise forward's matrix products.
    public enum Precision: String, Sendable, Hashable, CaseIterable {
        /// Products in the inputs' scalar type (float32 or float64).
        case float32
        /// The precision recipe of the GPU kernels for h's numerator, with
        /// the denominator in float32. The numerator's products — q̄ᵀC,
        /// the decayed scores times V, and the state update
        /// (diag(w)K)ᵀV — round both operands (q, k, v, the scores, the
        /// running state C) to bfloat16 and accumulate in float32. The
        /// denominator's products — the scores s·QKᵀ and q·n — run in
        /// float32 from the unrounded q, k and n (the scores are rounded
        /// to bfloat16 only as the operand of their product with V): where
        /// max(|q̄·n + Σ_j S̄_tj|, e^{−m}) nearly cancels, rounding them
        /// would move h by several percent of max |h|. Gates, stabilizers
        /// and n stay in float32/float64, and h is float32. At the 7B head
        /// (S = 8192, realistic gates) h is within 5.2e-3 of the float64
        /// forward (3.3e-2 with the denominator in bf16), for 3–7 % more
        /// time than with every product in bf16. The bf16 products run on AMX
        /// tiles (`tdpbf16ps`) where the CPU has them, else on the
        /// AVX512-BF16 `vdpbf16ps` instruction, elsewhere on float32 GEMMs
        /// of the rounded operands (equal up to the order of the float32
        /// sums).
        /// For the inference forward with Float inputs (or 16-bit inputs
        /// through `storedAs:`); `Docs/oracle.md` has its accuracy.
        case bf16Products
    }

    /// Throws unless ``precision`` can be used by `call` with `Scalar`
    /// inputs: bf16 products are for the inference forwards with Float
    /// inputs.
    func requireSupportedPrecision<Scalar>(_: Scalar.Type, call: ChunkwiseCall) throws(TFLAError) {
        guard precision == .bf16Products else { return }
        guard call.isInferenceForward else {
            throw .unsupported("precision bf16Products is available for the inference forward only, not for the \(call.entryName)")
        }
        guard Scalar.self == Float.self else {
            throw .unsupported("precision bf16Products needs Float inputs (or 16-bit inputs through storedAs:), not \(Scalar.self)")
        }
    }

    /// The product routine in force for a call with these options.
    var productKernel: ProductKernel {
        switch precision {
        case .float32: .native
        case .bf16Products:
            .bf16(bf16Path == .automatic ? BF16Products.automaticPath : bf16Path, float32: bf16Float32Products)
        }
    }
}

/// Which routine computes a forward's products.
enum ProductKernel {
    /// `Scalar.gemm` (OpenBLAS).
    case native
    /// Both operands rounded to bfloat16, float32 accumulation, except for
    /// the products in `float32`, which run as `.native`.
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

/// Matrix products with bfloat16 operands and float32 accumulation.
package enum BF16Products {
    /// Where bf16 products come from.
    package enum Path: Sendable, Hashable {
        /// The fastest this CPU has: ``matrixUnits``, else ``dotProduct``,
        /// else ``roundedFloat32`` (``BF16Products/automaticPath``).
        case automatic
        /// The AMX tile kernel (`tdpbf16ps`, `CTFLAKernels/amx.c`).
        case matrixUnits
        /// The AVX512-BF16 micro-kernel (`vdpbf16ps`, `CTFLAKernels/avx512_bf16.c`).
        case dotProduct
        /// OpenBLAS sgemm on operands rounded to bfloat16.
        case roundedFloat32
    }

    /// Whether this CPU (and operating system) runs AVX512-BF16.
    package static let hasDotProductInstructions: Bool = tfla_cpu_has_avx512_bf16()

    /// Whether this CPU has AMX with bf16 tiles and the operating system
    /// granted the tile state to this process.
    package static let hasMatrixUnits: Bool = tfla_cpu_has_amx_bf16()

    /// The path ``Path/automatic`` resolves to on this CPU.
    package static let automaticPath: Path = hasMatrixUnits ? .matrixUnits
        : hasDotProductInstructions ? .dotProduct : .roundedFloat32

    /// The paths this CPU can run, fastest first.
    package static var availablePaths: [Path] {
        (hasMatrixUnits ? [.matrixUnits] : []) + (hasDotProductInstructions ? [.dotProduct] : []) + [.roundedFloat32]
    }

    /// A short description of a path, for tools and logs.
    package static func describe(_ path: Path) -> String {
        switch path {
        case .automatic: describe(automaticPath)
        case .matrixUnits: "AMX tiles (tdpbf16ps)"
        case .dotProduct: "AVX512-BF16 (vdpbf16ps)"
        case .roundedFloat32: "float32 sgemm on rounded operands"
        }
    }

    /// `x` rounded to bfloat16 (ties to even; subnormals to zero).
    package static func round(_ x: Float) -> Float { tfla_bf16_round(x) }

    /// Row-major `C ← alpha·op(A)·op(B) + beta·C` with op(A) and op(B)
    /// rounded to bfloat16 and float32 accumulation, on `path`
    /// (`.matrixUnits` only where ``hasMatrixUnits``, `.dotProduct` only
    /// where ``hasDotProductInstructions``).
    package static func gemm(
        path: Path, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        switch path == .automatic ? automaticPath : path {
        case .matrixUnits:
            precondition(hasMatrixUnits, "AMX bf16 products are not available on this CPU")
            tfla_amx_bf16_gemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        case .dotProduct:
            precondition(hasDotProductInstructions, "AVX512-BF16 is not available on this CPU")
            tfla_bf16_gemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
            return
        case .automatic, .roundedFloat32:
            break
        }
        guard m > 0, n > 0 else { return }
        let roundedA = tfla_bf16_rounded_operand(0, transposeA, m, k, a, lda)!
        let roundedB = tfla_bf16_rounded_operand(1, transposeB, k, n, b, ldb)!
        Float.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: alpha,
                   a: roundedA, lda: max(k, 1), b: roundedB, ldb: n, beta: beta, c: c, ldc: ldc)
    }
}

extension BF16Products {
    /// The 32-bit words that op(B) (k × n) takes in the AMX tile layout.
    package static func packedWords(k: Int, n: Int) -> Int { tfla_amx_packed_words(k, n) }

    /// `y ← alpha·A·x + beta·y` in float32 for a row-major `m × k` matrix A
    /// (row stride `lda`), x and y with strides `incx` and `incy`; each
    /// row's sum in a fixed order (16 lanes, then the lanes, then the tail).
    static func float32MatrixVector(
        m: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int, x: UnsafePointer<Float>, incx: Int,
        beta: Float, y: UnsafeMutablePointer<Float>, incy: Int
    ) {
        let vectorEnd = incx == 1 ? k - k % 16 : 0
        for i in 0..<m {
            let row = a + i * lda
            var lanes = SIMD16<Float>()
            for p in stride(from: 0, to: vectorEnd, by: 16) {
                lanes.addProduct(UnsafeRawPointer(row + p).loadUnaligned(as: SIMD16<Float>.self),
                                 UnsafeRawPointer(x + p).loadUnaligned(as: SIMD16<Float>.self))
            }
            var sum = lanes.sum()
            for p in vectorEnd..<k { sum += row[p] * x[p * incx] }
            let target = y + i * incy
            target.pointee = beta == 0 ? alpha * sum : alpha * sum + beta * target.pointee
        }
    }
}


extension ForwardContext {
    /// Whether the state update hands the next chunk its C already packed
    /// for the AMX products.
    var packsState: Bool {
        // Only when both products that share the packed C round it.
        if case .bf16(.matrixUnits, let float32) = products { return float32.isDisjoint(with: [.inter, .state]) }
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
        case .native, .bf16:
            Scalar.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: alpha,
                        a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        }
    }
}
