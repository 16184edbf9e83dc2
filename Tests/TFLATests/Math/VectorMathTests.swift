import Testing
import TFLA
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Accuracy of VectorMath against libm. Float results are compared with the
// C library's Double functions (exact to ~1e-16, far below Float's 6e-8
// rounding); Double results with its Float80 ones where the platform has
// them (x86-64: 11 more bits), else with the Double ones, which are within
// 1 ulp (so the ulp bounds below then include the reference's own error).

#if arch(x86_64) && !os(Windows) && !os(Android)
private typealias Wide = Float80
private func wideExp(_ x: Wide) -> Wide { expl(x) }
#else
private typealias Wide = Double
private func wideExp(_ x: Wide) -> Wide { exp(x) }
#endif

/// What a sweep found: the worst errors, and the inputs where they occurred.
private struct ErrorStats: CustomStringConvertible {
    /// max |got − ref| / |ref| over references that are normal numbers.
    var maxRelative: Wide = 0
    /// The same in units of the last place of the reference rounded to S.
    var maxULP: Wide = 0
    /// max |got − ref| over references below the least normal number, in
    /// units of that number: at most 1 when such results are flushed to 0.
    var maxTinyError: Wide = 0
    var worstInput: Double = 0
    /// Inputs whose reference is NaN or 0, or ±∞ once rounded to S, and
    /// that came out different.
    var specialMismatches: [Double] = []
    var count = 0

    var description: String {
        "n=\(count) maxRel=\(Double(maxRelative)) (\(Double(maxULP)) ulp) at x=\(worstInput), " +
            "below least normal: error \(Double(maxTinyError)) of it, special mismatches \(specialMismatches.prefix(5))"
    }
}

/// Runs `function` over `inputs` a vector at a time and compares each lane
/// with `reference`.
private func measure<V: SIMD>(
    _ inputs: [V.Scalar], _ function: (V) -> V, reference: (V.Scalar) -> Wide
) -> ErrorStats where V.Scalar: BinaryFloatingPoint {
    typealias S = V.Scalar
    var stats = ErrorStats()
    let width = V.scalarCount
    var start = 0
    while start < inputs.count {
        var v = V(repeating: inputs[start])
        let lanes = min(width, inputs.count - start)
        for lane in 0..<lanes { v[lane] = inputs[start + lane] }
        let result = function(v)
        for lane in 0..<lanes {
            let x = inputs[start + lane]
            let got = result[lane]
            let ref = reference(x)
            stats.count += 1
            // Overflow is judged on the reference rounded to S.
            let rounded = S(Double(ref))
            if ref.isNaN || rounded.isInfinite || ref == 0 {
                let same = ref.isNaN ? got.isNaN : got == rounded
                if !same { stats.specialMismatches.append(Double(x)) }
                continue
            }
            if got.isNaN || got.isInfinite {
                stats.maxRelative = .infinity
                stats.maxULP = .infinity
                stats.worstInput = Double(x)
                continue
            }
            let error = abs(Wide(Double(got)) - ref)
            if abs(ref) >= Wide(Double(S.leastNormalMagnitude)) {
                let relative = error / abs(ref)
                if relative > stats.maxRelative {
                    stats.maxRelative = relative
                    stats.worstInput = Double(x)
                }
                let ulp = Wide(Double(S(Double(ref)).ulp))
                stats.maxULP = max(stats.maxULP, error / ulp)
            } else {
                stats.maxTinyError = max(stats.maxTinyError, error / Wide(Double(S.leastNormalMagnitude)))
            }
        }
        start += width
    }
    return stats
}

/// `count` points spread evenly over [lower, upper], both included.
private func linear<S: BinaryFloatingPoint>(_ lower: Double, _ upper: Double, count: Int) -> [S] {
    (0..<count).map { S(lower + (upper - lower) * Double($0) / Double(count - 1)) }
}

private let floatEdges: [Float] = [
    0, -0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, 0x1.8p-133, -0x1.8p-133,
    1, -1, .infinity, -.infinity, .nan, -87.3, 88.7, 88.72, 88.73, 89, 100, -103, -104, -105, -200,
    709, -745, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
]
private let doubleEdges: [Double] = [
    0, -0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, 0x1.8p-1030, -0x1.8p-1030,
    1, -1, .infinity, -.infinity, .nan, -87.3, 88.7, 709, 709.78, 709.79, 710, -708.4, -745, -745.2, -746,
    -800, 1e300, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
]

@Suite("VectorMath")
struct VectorMathTests {
    // MARK: exp

    @Test func floatExp() {
        let inputs: [Float] = linear(-87.336, 88.72, count: 1_000_000) + linear(-1, 1, count: 100_001) + floatEdges
        let stats = measure(inputs, VectorMath.exp) { Wide(exp(Double($0))) }
        print("exp Float:", stats)
        #expect(stats.maxRelative <= 1.5e-7, "\(stats)")
        #expect(stats.maxULP <= 1.5, "\(stats)")
        #expect(stats.maxTinyError <= 1, "\(stats)")
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
        // Where e^x would be subnormal the result is exactly 0.
        let low: [Float] = linear(-120, -87.3366, count: 100_001)
        let flushed = measure(low, VectorMath.exp) { Wide($0 < -87.33654 ? 0 : exp(Double($0))) }
        #expect(flushed.specialMismatches.isEmpty, "\(flushed)")
    }

    @Test func floatExpSpecialValues() {
        let x = SIMD16<Float>(
            0, -0, .leastNonzeroMagnitude, -0x1.8p-133, .infinity, -.infinity, .nan, 88.73,
            89, 1e30, -104, -1e30, -87.3, 88.7, 709, -745)
        let y = VectorMath.exp(x)
        for lane in 0..<4 { #expect(y[lane] == 1) }
        #expect(y[4] == .infinity)
        #expect(y[5] == 0)
        #expect(y[6].isNaN)
        for lane in 7..<10 { #expect(y[lane] == .infinity) }
        #expect(y[10] == 0 && y[11] == 0)
        for lane in 12..<14 { #expect(abs(Double(y[lane]) / exp(Double(x[lane])) - 1) <= 1.5e-7) }
        #expect(y[14] == .infinity && y[15] == 0)
    }

    @Test func doubleExp() {
        let inputs: [Double] = linear(-708.396, 709.78, count: 1_000_000) + linear(-1, 1, count: 100_001) + doubleEdges
        let stats = measure(inputs, VectorMath.exp) { wideExp(Wide($0)) }
        print("exp Double:", stats)
        #expect(stats.maxRelative <= 2.5e-16, "\(stats)")
        #expect(stats.maxULP <= 1.5, "\(stats)")
        #expect(stats.maxTinyError <= 1, "\(stats)")
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
        let low: [Double] = linear(-800, -708.3965, count: 100_001)
        let flushed = measure(low, VectorMath.exp) { $0 < -708.3964185322 ? 0 : wideExp(Wide($0)) }
        #expect(flushed.specialMismatches.isEmpty, "\(flushed)")
    }

    @Test func doubleExpSpecialValues() {
        let x = SIMD8<Double>(-0, .leastNonzeroMagnitude, .infinity, -.infinity, .nan, 710, -745, -746)
        let y = VectorMath.exp(x)
        #expect(y[0] == 1 && y[1] == 1)
        #expect(y[2] == .infinity && y[3] == 0 && y[4].isNaN && y[5] == .infinity)
        #expect(y[6] == 0 && y[7] == 0)  // subnormal results are flushed
        let finite = VectorMath.exp(SIMD8<Double>(repeating: 709))[0]
        #expect(abs(finite / exp(709) - 1) <= 5e-16)
    }
}
