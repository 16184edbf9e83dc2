import TFLA

/// One bf16 product checked against float64 sums of its rounded operands.
public struct BF16ProductCase: Sendable {
    public var transposeA: Bool, transposeB: Bool
    public var m: Int, n: Int, k: Int
    public var alpha: Float, beta: Float
    /// Row strides; at least the operands' widths.
    public var lda: Int, ldb: Int, ldc: Int

    public init(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float, beta: Float,
                lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil) {
        (self.transposeA, self.transposeB, self.m, self.n, self.k) = (transposeA, transposeB, m, n, k)
        (self.alpha, self.beta) = (alpha, beta)
        self.lda = lda ?? (transposeA ? m : k)
        self.ldb = ldb ?? (transposeB ? k : n)
        self.ldc = ldc ?? n
    }

    /// Runs the product on `path` with operands drawn from `draw` and
    /// returns the worst error relative to the sum of the terms'
    /// magnitudes (∞ when it wrote outside the m × n block of C).
    package func worstError(path: BF16Products.Path, draw: () -> Float) -> Double {
        let a = (0..<(transposeA ? k : m) * lda).map { _ in draw() }
        let b = (0..<(transposeB ? n : k) * ldb).map { _ in draw() }
        let before = (0..<m * ldc).map { _ in draw() }
        var c = before
        c.withUnsafeMutableBufferPointer { out in
            BF16Products.gemm(path: path, transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                              alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: out.baseAddress!, ldc: ldc)
        }
        var worst = 0.0
        for i in 0..<m {
            for j in n..<ldc where c[i * ldc + j] != before[i * ldc + j] { return .infinity }
            for j in 0..<n {
                var sum = 0.0, magnitude = 0.0
                for p in 0..<k {
                    let x = Double(BF16Products.round(transposeA ? a[p * lda + i] : a[i * lda + p]))
                    let y = Double(BF16Products.round(transposeB ? b[j * ldb + p] : b[p * ldb + j]))
                    sum += x * y
                    magnitude += abs(x * y)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(before[i * ldc + j])
                let expected = Double(alpha) * sum + old
                let scale = abs(Double(alpha)) * magnitude + abs(old) + 1e-30
                let error = abs(Double(c[i * ldc + j]) - expected) / scale
                guard !error.isNaN else { return .infinity }
                worst = max(worst, error)
            }
        }
        return worst
    }
}
