import Dispatch
import TFLA

/// The machine's fp32 matrix-multiply ceiling, measured with the library's
/// own OpenBLAS (same core, one BLAS thread per worker), so that kernel
/// efficiencies are relative to what this machine delivers right now.
public enum SGEMMPeak {
    /// Aggregate GFLOP/s of `threads` workers, each multiplying its own
    /// `size`×`size` matrices for about `seconds`; the best of a few rounds.
    public static func measure(threads: Int, size: Int = 512, seconds: Double = 0.4) -> Double {
        _ = BLAS.configuration
        let flopsPerCall = 2.0 * Double(size * size * size)
        var best = 0.0
        for _ in 0..<3 {
            let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
            counts.initialize(repeating: 0)
            defer { counts.deallocate() }
            let shared = UnsafeSendableBox(counts)
            let start = Stopwatch.now()
            DispatchQueue.concurrentPerform(iterations: threads) { worker in
                let a = [Float](repeating: 0.5, count: size * size)
                let b = [Float](repeating: 0.25, count: size * size)
                var c = [Float](repeating: 0, count: size * size)
                let begin = Stopwatch.now()
                var calls = 0
                repeat {
                    c.withUnsafeMutableBufferPointer { cp in
                        Float.gemm(transposeA: false, transposeB: false, m: size, n: size, k: size,
                                   alpha: 1, a: a, lda: size, b: b, ldb: size, beta: 0, c: cp.baseAddress!, ldc: size)
                    }
                    calls += 1
                } while Stopwatch.now() - begin < seconds
                shared.value[worker] = calls
            }
            let elapsed = Stopwatch.now() - start
            best = max(best, Double(counts.reduce(0, +)) * flopsPerCall / elapsed / 1e9)
        }
        return best
    }
}

/// Hands a buffer to workers that write disjoint elements.
struct UnsafeSendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
