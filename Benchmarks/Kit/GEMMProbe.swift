import TFLA
import TFLATestSupport

/// Single-thread GEMM rates at the shapes the chunkwise kernel issues, to
/// see which product bounds the kernel (Docs/log/float32-forward.md,
/// "Where the forward's time goes").
public enum GEMMProbe {
    public struct Case: Sendable {
        public var label: String
        public var transposeA: Bool
        public var transposeB: Bool
        public var m: Int, n: Int, k: Int
        public var beta: Float

        public init(label: String, transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, beta: Float) {
            (self.label, self.transposeA, self.transposeB) = (label, transposeA, transposeB)
            (self.m, self.n, self.k, self.beta) = (m, n, k, beta)
        }
    }

    /// The products of one chunk of the forward at (L, DQK, DHV).
    public static func forwardCases(chunk l: Int, keyDim dqk: Int, valueDim dhv: Int, tile: Int) -> [Case] {
        [
            Case(label: "inter  Q·C        ", transposeA: false, transposeB: false, m: l, n: dhv, k: dqk, beta: 0),
            Case(label: "scores Q·Kᵀ (tile) ", transposeA: false, transposeB: true, m: tile, n: tile, k: dqk, beta: 0),
            Case(label: "intra  P·V (tile)  ", transposeA: false, transposeB: false, m: tile, n: dhv, k: tile, beta: 1),
            Case(label: "state  Kwᵀ·V       ", transposeA: true, transposeB: false, m: dqk, n: dhv, k: l, beta: 0.9),
            Case(label: "fused [Q̄|P]·[C;V] ", transposeA: false, transposeB: false, m: l, n: dhv, k: dqk + l, beta: 0),
        ]
    }

    /// The products of one chunk of the backward at (L, DQK, DHV).
    public static func backwardCases(chunk l: Int, keyDim dqk: Int, valueDim dhv: Int, tile: Int) -> [Case] {
        [
            Case(label: "dQ inter dH̄·C₋ᵀ    ", transposeA: false, transposeB: true, m: l, n: dqk, k: dhv, beta: 0),
            Case(label: "dK inter V·dCᵀ     ", transposeA: false, transposeB: true, m: l, n: dqk, k: dhv, beta: 0),
            Case(label: "dV inter K·dC      ", transposeA: false, transposeB: false, m: l, n: dhv, k: dqk, beta: 0),
            Case(label: "dC carry (αQ)ᵀ·dH̄  ", transposeA: true, transposeB: false, m: dqk, n: dhv, k: l, beta: 0.9),
            Case(label: "dP dH̄·Vᵀ (tile)    ", transposeA: false, transposeB: true, m: tile, n: tile, k: dhv, beta: 0),
            Case(label: "dQ dS·K (tile)     ", transposeA: false, transposeB: false, m: tile, n: dqk, k: tile, beta: 1),
            Case(label: "dK dSᵀ·Q (tile)    ", transposeA: true, transposeB: false, m: tile, n: dqk, k: tile, beta: 1),
            Case(label: "dV S̄ᵀ·dH̄ (tile)    ", transposeA: true, transposeB: false, m: tile, n: dhv, k: tile, beta: 1),
        ]
    }

    /// The worst error of bf16 products on `path` against the float64
    /// product of the rounded operands, relative to the sum of the terms'
    /// magnitudes, over odd sizes, both transposes and several alpha/beta.
    package static func worstError(path: BF16Products.Path) -> (error: Double, cases: Int) {
        var rng = SystemRandomNumberGenerator()
        var worst = 0.0, cases = 0
        let sizes = [1, 15, 16, 17, 31, 33, 64, 100, 130]
        let scalings: [(Float, Float)] = [(1, 0), (1, 1), (0.5, 0), (1, 0.9), (-2, 1)]
        for transposeA in [false, true] {
            for transposeB in [false, true] {
                for (index, m) in sizes.enumerated() {
                    for n in sizes.shuffled(using: &rng).prefix(3) {
                        for k in sizes.shuffled(using: &rng).prefix(2) + [256] {
                            let (alpha, beta) = scalings[(index + n + k) % scalings.count]
                            let product = BF16ProductCase(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                                          alpha: alpha, beta: beta,
                                                          lda: (transposeA ? m : k) + 3, ldb: (transposeB ? k : n) + 5, ldc: n + 7)
                            worst = max(worst, product.worstError(path: path) { Float.random(in: -1...1, using: &rng) })
                            cases += 1
                        }
                    }
                }
            }
        }
        return (worst, cases)
    }

    /// The largest relative difference (max |Δh| / max |h|) between the
    /// bf16 forward on `path` and on the float32 fallback: equal up to the
    /// order of float32 sums (measured up to 1.5e-4, where denominators
    /// cancel), so a wrong packing shows as O(0.1) or more. ∞ when 1 and 4
    /// threads give different bits.
    package static func forwardDifference(path: BF16Products.Path) throws -> Double {
        var worst = 0.0
        for shape in [ProblemShape(batch: 1, heads: 2, sequence: 1000, keyDim: 64, valueDim: 96),
                      ProblemShape(batch: 1, heads: 2, sequence: 640, keyDim: 256, valueDim: 512)] {
            for gate in [Gate.exponential, .sigmoid(normalize: true)] {
                let x = MLSTMInputs<Float>.random(shape, gates: .realistic, seed: 5)
                var options = ChunkwiseOptions(parallelism: 2)
                options.precision = .bf16Products
                options.bf16Path = .roundedFloat32
                let reference = try Chunkwise.forward(x, gate: gate, options: options)
                options.bf16Path = path
                options.threads = 1
                let fast = try Chunkwise.forward(x, gate: gate, options: options)
                // Thread invariance: the same bits on more threads.
                options.threads = 4
                let threaded = try Chunkwise.forward(x, gate: gate, options: options)
                guard threaded.h.scalars == fast.h.scalars, threaded.state.c.scalars == fast.state.c.scalars else {
                    return .infinity
                }
                let scale = reference.h.scalars.reduce(0) { max($0, abs(Double($1))) }
                let difference = zip(fast.h.scalars, reference.h.scalars).reduce(0) { max($0, abs(Double($1.0) - Double($1.1))) }
                worst = max(worst, difference / scale)
            }
        }
        return worst
    }

    /// GFLOP/s of one case, repeated for about `seconds`: sgemm, or bf16
    /// products on `products`.
    package static func rate(_ c: Case, seconds: Double = 0.3, products: BF16Products.Path? = nil) -> Double {
        let rowsA = c.transposeA ? c.k : c.m, colsA = c.transposeA ? c.m : c.k
        let rowsB = c.transposeB ? c.n : c.k, colsB = c.transposeB ? c.k : c.n
        let a = [Float](repeating: 0.01, count: rowsA * colsA)
        let b = [Float](repeating: 0.02, count: rowsB * colsB)
        var out = [Float](repeating: 0, count: c.m * c.n)
        var calls = 0
        let start = Stopwatch.now()
        repeat {
            out.withUnsafeMutableBufferPointer { o in
                if let products {
                    BF16Products.gemm(path: products, transposeA: c.transposeA, transposeB: c.transposeB, m: c.m, n: c.n, k: c.k,
                                      alpha: 1, a: a, lda: colsA, b: b, ldb: colsB, beta: c.beta, c: o.baseAddress!, ldc: c.n)
                } else {
                    Float.gemm(transposeA: c.transposeA, transposeB: c.transposeB, m: c.m, n: c.n, k: c.k,
                               alpha: 1, a: a, lda: colsA, b: b, ldb: colsB, beta: c.beta, c: o.baseAddress!, ldc: c.n)
                }
            }
            calls += 1
        } while Stopwatch.now() - start < seconds
        return 2 * Double(c.m * c.n * c.k) * Double(calls) / (Stopwatch.now() - start) / 1e9
    }
}
