import CTFLAKernels

extension ChunkwiseOptions {
    /// The precision of the chunkwise forward's matrix products.
    public enum Precision: String, Sendable, Hashable, CaseIterable {
        /// Products in the inputs' own scalar type: float32 for Float
        /// inputs, float64 for Double inputs (the default).
        case inputType
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
        /// and n stay in float32/float64, and h is float32. The bf16
        /// products run on AMX tiles (`tdpbf16ps`) where the CPU has them,
        /// with each chunk's operands packed once and C read by Q·C as two
        /// bfloat16 terms (bf16(C) + bf16(C − bf16(C)), for accuracy at
        /// extreme gates); else on the AVX512-BF16 `vdpbf16ps`
        /// instruction, elsewhere on float32 GEMMs of the rounded operands
        /// (equal up to the order of the float32 sums). At the 7B head
        /// (S = 8192, realistic gates) h is within 4.1e-3 of the float64
        /// forward on AMX (3.3e-2 with the denominator in bf16).
        /// For the inference forward with Float inputs, or bfloat16 inputs
        /// read in place through `storedAs:` (the scores are then exact
        /// products of the bfloat16 q and k); `Docs/oracle.md` has its
        /// accuracy.
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
}

/// Matrix products with bfloat16 operands and float32 accumulation.
package enum BF16Products {
    /// Where bf16 products come from.
    package enum Path: Sendable, Hashable {
        /// The fastest this CPU has: ``matrixUnits``, else ``dotProduct``,
        /// else ``roundedFloat32`` (``BF16Products/automaticPath``).
        case automatic
        /// The AMX tile kernel (`tdpbf16ps`, `CTFLAKernels/amx.c`); the
        /// inference forward packs each chunk's operands once
        /// (`PackedChunkWalk.swift`).
        case matrixUnits
        /// The AMX tile kernel with the operands packed by every product
        /// (the forward before chunk packing; kept for comparisons).
        case matrixUnitsPerProduct
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
        (hasMatrixUnits ? [.matrixUnits, .matrixUnitsPerProduct] : []) + (hasDotProductInstructions ? [.dotProduct] : []) + [.roundedFloat32]
    }

    /// A short description of a path, for tools and logs.
    package static func describe(_ path: Path) -> String {
        switch path {
        case .automatic: describe(automaticPath)
        case .matrixUnits: "AMX tiles (tdpbf16ps)"
        case .matrixUnitsPerProduct: "AMX tiles (tdpbf16ps), operands packed per product"
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
        case .matrixUnits, .matrixUnitsPerProduct:
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
