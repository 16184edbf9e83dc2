import Testing
import TFLA
import TFLATestSupport

#if canImport(Glibc)
import Glibc
#endif

@Suite("BLAS")
struct BLASTests {
    @Test func runsAStrongCoreWithoutConfiguration() {
        let blas = BLAS.configuration
        #expect(blas.threads == 1)
        // Only meaningful where the user did not choose a core.
        guard getenv("OPENBLAS_CORETYPE") == nil else { return }
        switch BuildInfo.cpuISA {
        case "AVX-512":
            #expect(["SkylakeX", "Cooperlake", "SapphireRapids"].contains(blas.coreName), "\(blas)")
        case "AVX2":
            #expect(!["Prescott", "Core2", "Nehalem", "Sandybridge"].contains(blas.coreName), "\(blas)")
        default:
            break
        }
        if case .upgradeFailed = blas.choice { Issue.record("core selection failed: \(blas)") }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmMatchesNaiveProduct(transposeA: Bool, transposeB: Bool) {
        var rng = SplitMix64(seed: 7)
        let (m, n, k) = (5, 7, 3)
        let lda = (transposeA ? m : k) + 2
        let ldb = (transposeB ? k : n) + 1
        let ldc = n + 3
        let a = (0..<((transposeA ? k : m) * lda)).map { _ in rng.normal() }
        let b = (0..<((transposeB ? n : k) * ldb)).map { _ in rng.normal() }
        var c = [Double](repeating: 1, count: m * ldc)
        var expected = c
        for row in 0..<m {
            for col in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let x = transposeA ? a[p * lda + row] : a[row * lda + p]
                    let y = transposeB ? b[col * ldb + p] : b[p * ldb + col]
                    sum += x * y
                }
                expected[row * ldc + col] = 2 * sum + 0.5 * expected[row * ldc + col]
            }
        }
        c.withUnsafeMutableBufferPointer { cp in
            Double.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                        alpha: 2, a: a, lda: lda, b: b, ldb: ldb, beta: 0.5, c: cp.baseAddress!, ldc: ldc)
        }
        for index in c.indices { #expect(abs(c[index] - expected[index]) < 1e-12) }

        let af = a.map(Float.init), bf = b.map(Float.init)
        var cf = [Float](repeating: 1, count: m * ldc)
        cf.withUnsafeMutableBufferPointer { cp in
            Float.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                       alpha: 2, a: af, lda: lda, b: bf, ldb: ldb, beta: 0.5, c: cp.baseAddress!, ldc: ldc)
        }
        for index in cf.indices { #expect(abs(Double(cf[index]) - expected[index]) < 1e-4) }
    }

    @Test func buildInfoIsReported() {
        #expect(["AVX-512", "AVX2", "AVX", "SSE4.2", "baseline", "non-x86"].contains(BuildInfo.compiledISA))
        #expect(["AVX-512", "AVX2", "AVX", "SSE4.2", "baseline"].contains(BuildInfo.cpuISA))
        // No warning for a build that uses what the CPU has (`make test`
        // builds with Scripts/setup/swift-flags.sh); one naming the CPU's level
        // for a build without those flags.
        if BuildInfo.compiledISA == BuildInfo.cpuISA {
            #expect(BuildInfo.underTargetedBuildWarning == nil)
        } else if BuildInfo.compiledISA == "baseline" {
            #expect(BuildInfo.underTargetedBuildWarning?.contains(BuildInfo.cpuISA) == true)
        }
    }
}
