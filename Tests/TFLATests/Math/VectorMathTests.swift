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
private func wideLog(_ x: Wide) -> Wide { logl(x) }
private func wideLog1p(_ x: Wide) -> Wide { log1pl(x) }
#else
private typealias Wide = Double
private func wideExp(_ x: Wide) -> Wide { exp(x) }
private func wideLog(_ x: Wide) -> Wide { log(x) }
private func wideLog1p(_ x: Wide) -> Wide { log1p(x) }
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
private func measure<S: VectorMathScalar>(
    _ inputs: [S], _ function: (S.Vector) -> S.Vector, reference: (S) -> Wide
) -> ErrorStats {
    var stats = ErrorStats()
    let width = S.Vector.scalarCount
    var start = 0
    while start < inputs.count {
        var v = S.Vector(repeating: inputs[start])
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
private func linear<S: VectorMathScalar>(_ lower: Double, _ upper: Double, count: Int) -> [S] {
    (0..<count).map { S(lower + (upper - lower) * Double($0) / Double(count - 1)) }
}

/// `count` points 2^u with u spread evenly over [lower, upper].
private func logarithmic<S: VectorMathScalar>(_ lower: Double, _ upper: Double, count: Int) -> [S] {
    (0..<count).map { S(pow(2, lower + (upper - lower) * Double($0) / Double(count - 1))) }
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

// References. Float ones are in Double; logσ(x) = min(x, 0) − log1p(e^−|x|).
private func floatLogSigmoidReference(_ x: Float) -> Wide {
    let d = Double(x)
    return Wide(min(d, 0) - log1p(exp(-abs(d))))
}
private func doubleLogSigmoidReference(_ x: Double) -> Wide {
    let w = Wide(x)
    return min(w, 0) - wideLog1p(wideExp(-abs(w)))
}
private func floatSigmoidReference(_ x: Float) -> Wide { Wide(1 / (1 + exp(-Double(x)))) }
private func doubleSigmoidReference(_ x: Double) -> Wide { 1 / (1 + wideExp(-Wide(x))) }

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

    // MARK: log

    @Test func floatLog() {
        let inputs: [Float] = logarithmic(-149, 128, count: 1_000_000) + linear(0.5, 2, count: 1_000_000)
            + linear(0.999, 1.001, count: 100_001) + floatEdges
        let stats = measure(inputs, VectorMath.log) { Wide(log(Double($0))) }
        print("log Float:", stats)
        #expect(stats.maxRelative <= 1.5e-7, "\(stats)")
        #expect(stats.maxULP <= 1.5, "\(stats)")
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
    }

    @Test func floatLogSpecialValues() {
        let x = SIMD16<Float>(
            0, -0, .infinity, -.infinity, .nan, -1, -.leastNonzeroMagnitude, 1,
            .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, 2, 0.5, 10, 1e-30, 3)
        let y = VectorMath.log(x)
        #expect(y[0] == -.infinity && y[1] == -.infinity)
        #expect(y[2] == .infinity)
        for lane in 3..<7 { #expect(y[lane].isNaN) }
        #expect(y[7] == 0)
        for lane in 8..<16 { #expect(abs(Double(y[lane]) / log(Double(x[lane])) - 1) <= 1.5e-7) }
    }

    @Test func doubleLog() {
        let inputs: [Double] = logarithmic(-1074, 1024, count: 1_000_000) + linear(0.5, 2, count: 1_000_000)
            + linear(0.999, 1.001, count: 100_001) + doubleEdges
        let stats = measure(inputs, VectorMath.log) { wideLog(Wide($0)) }
        print("log Double:", stats)
        #expect(stats.maxRelative <= 2.5e-16, "\(stats)")
        #expect(stats.maxULP <= 1.5, "\(stats)")
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
    }

    @Test func doubleLogSpecialValues() {
        let x = SIMD8<Double>(0, -0, .infinity, -.infinity, .nan, -1, 1, .leastNonzeroMagnitude)
        let y = VectorMath.log(x)
        #expect(y[0] == -.infinity && y[1] == -.infinity && y[2] == .infinity)
        for lane in 3..<6 { #expect(y[lane].isNaN) }
        #expect(y[6] == 0)
        #expect(abs(y[7] / log(Double.leastNonzeroMagnitude) - 1) <= 5e-16)
    }

    // MARK: log1p on [0, 1]

    @Test func floatLog1p() {
        let inputs: [Float] = linear(0, 1, count: 1_000_000) + logarithmic(-149, 0, count: 100_000)
        let stats = measure(inputs, VectorMath.log1p) { Wide(log1p(Double($0))) }
        print("log1p Float:", stats)
        #expect(stats.maxRelative <= 1.5e-7, "\(stats)")
        #expect(stats.maxULP <= 1.5, "\(stats)")
        #expect(stats.maxTinyError == 0, "\(stats)")
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
        let outside = VectorMath.log1p(SIMD16<Float>(repeating: 1.5))
        let negative = VectorMath.log1p(SIMD16<Float>(repeating: -0.25))
        #expect(outside[0].isNaN && negative[0].isNaN && VectorMath.log1p(SIMD16<Float>(repeating: .nan))[0].isNaN)
    }

    @Test func doubleLog1p() {
        let inputs: [Double] = linear(0, 1, count: 1_000_000) + logarithmic(-1074, 0, count: 100_000)
        let stats = measure(inputs, VectorMath.log1p) { wideLog1p(Wide($0)) }
        print("log1p Double:", stats)
        #expect(stats.maxRelative <= 2.5e-16, "\(stats)")
        #expect(stats.maxULP <= 1.5, "\(stats)")
        #expect(stats.maxTinyError == 0, "\(stats)")
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
        #expect(VectorMath.log1p(SIMD8<Double>(repeating: 2))[0].isNaN)
    }

    // MARK: logσ and σ

    @Test func floatLogSigmoid() {
        let inputs: [Float] = linear(-120, 120, count: 1_000_000) + linear(-2, 2, count: 100_001)
            + [.infinity, -.infinity, .nan, 0, -0, 1e30, -1e30]
        let stats = measure(inputs, VectorMath.logSigmoid, reference: floatLogSigmoidReference)
        print("logSigmoid Float:", stats)
        #expect(stats.maxRelative <= 2e-7, "\(stats)")
        #expect(stats.maxTinyError <= 1, "\(stats)")
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
    }

    @Test func doubleLogSigmoid() {
        let inputs: [Double] = linear(-800, 800, count: 1_000_000) + linear(-2, 2, count: 100_001)
            + [.infinity, -.infinity, .nan, 0, -0, 1e300, -1e300]
        let stats = measure(inputs, VectorMath.logSigmoid, reference: doubleLogSigmoidReference)
        print("logSigmoid Double:", stats)
        #expect(stats.maxRelative <= 4e-16, "\(stats)")
        #expect(stats.maxULP <= 2.5, "\(stats)")
        #expect(stats.maxTinyError <= 1, "\(stats)")
        #expect(stats.specialMismatches.isEmpty, "\(stats)")
    }

    @Test func sigmoid() {
        let floatInputs: [Float] = linear(-120, 120, count: 1_000_000) + [.infinity, -.infinity, .nan, 0, -0]
        let floats = measure(floatInputs, VectorMath.sigmoid, reference: floatSigmoidReference)
        print("sigmoid Float:", floats)
        #expect(floats.maxRelative <= 2.5e-7, "\(floats)")
        #expect(floats.maxTinyError <= 1, "\(floats)")
        #expect(floats.specialMismatches.isEmpty, "\(floats)")
        let doubleInputs: [Double] = linear(-800, 800, count: 1_000_000) + [.infinity, -.infinity, .nan, 0, -0]
        let doubles = measure(doubleInputs, VectorMath.sigmoid, reference: doubleSigmoidReference)
        print("sigmoid Double:", doubles)
        #expect(doubles.maxRelative <= 5e-16, "\(doubles)")
        #expect(doubles.maxULP <= 3, "\(doubles)")
        #expect(doubles.maxTinyError <= 1, "\(doubles)")
        #expect(doubles.specialMismatches.isEmpty, "\(doubles)")
    }

    // MARK: buffers

    /// Each buffer function must give, at every length, exactly what the
    /// vector function gives for that element, and leave the memory past
    /// the buffer alone.
    private func checkBuffers<S: VectorMathScalar>(
        _ type: S.Type, values: (Int) -> S,
        _ inPlace: (UnsafeMutableBufferPointer<S>) -> Void, _ vector: (S.Vector) -> S.Vector
    ) {
        let sentinel: S = -12345
        for length in [0, 1, 15, 16, 17, 100] {
            let storage = UnsafeMutableBufferPointer<S>.allocate(capacity: length + 3)
            defer { storage.deallocate() }
            for i in 0..<length { storage[i] = values(i) }
            for i in length..<(length + 3) { storage[i] = sentinel }
            inPlace(UnsafeMutableBufferPointer(rebasing: storage[0..<length]))
            for i in 0..<length {
                let expected = vector(S.Vector(repeating: values(i)))[0]
                #expect(storage[i] == expected, "length \(length), element \(i)")
            }
            for i in length..<(length + 3) { #expect(storage[i] == sentinel, "length \(length) wrote past the end") }
        }
    }

    /// The generic buffer overloads, as a kernel generic over its scalar
    /// reaches them (concrete buffers pick the Float/Double overloads).
    private enum Generic {
        static func exp<S: VectorMathScalar>(_ b: UnsafeMutableBufferPointer<S>) { VectorMath.exp(b) }
        static func log<S: VectorMathScalar>(_ b: UnsafeMutableBufferPointer<S>) { VectorMath.log(b) }
        static func log1p<S: VectorMathScalar>(_ b: UnsafeMutableBufferPointer<S>) { VectorMath.log1p(b) }
        static func logSigmoid<S: VectorMathScalar>(_ b: UnsafeMutableBufferPointer<S>) { VectorMath.logSigmoid(b) }
        static func sigmoid<S: VectorMathScalar>(_ b: UnsafeMutableBufferPointer<S>) { VectorMath.sigmoid(b) }
    }

    @Test func genericBufferHelpers() {
        let exponent: (Int) -> Double = { Double($0) * 0.37 - 18 }
        let positive: (Int) -> Double = { Double($0) * 0.81 + 0.01 }
        let unit: (Int) -> Double = { Double($0 % 11) / 10 }
        checkBuffers(Float.self, values: { Float(exponent($0)) }, Generic.exp, VectorMath.exp)
        checkBuffers(Double.self, values: exponent, Generic.exp, VectorMath.exp)
        checkBuffers(Float.self, values: { Float(positive($0)) }, Generic.log, VectorMath.log)
        checkBuffers(Double.self, values: positive, Generic.log, VectorMath.log)
        checkBuffers(Float.self, values: { Float(unit($0)) }, Generic.log1p, VectorMath.log1p)
        checkBuffers(Double.self, values: unit, Generic.log1p, VectorMath.log1p)
        checkBuffers(Float.self, values: { Float(exponent($0)) }, Generic.logSigmoid, VectorMath.logSigmoid)
        checkBuffers(Double.self, values: exponent, Generic.logSigmoid, VectorMath.logSigmoid)
        checkBuffers(Float.self, values: { Float(exponent($0)) }, Generic.sigmoid, VectorMath.sigmoid)
        checkBuffers(Double.self, values: exponent, Generic.sigmoid, VectorMath.sigmoid)
        // `apply` with a function of one's own.
        checkBuffers(Float.self, values: { Float($0) }, { VectorMath.apply($0, padding: 0) { $0 * 2 + 1 } }, { $0 * 2 + 1 })
    }

    @Test func bufferHelpers() {
        let exponent: (Int) -> Double = { Double($0) * 0.37 - 18 }
        let positive: (Int) -> Double = { Double($0) * 0.81 + 0.01 }
        let unit: (Int) -> Double = { Double($0 % 11) / 10 }
        checkBuffers(Float.self, values: { Float(exponent($0)) }, VectorMath.exp, VectorMath.exp)
        checkBuffers(Double.self, values: exponent, VectorMath.exp, VectorMath.exp)
        checkBuffers(Float.self, values: { Float(positive($0)) }, VectorMath.log, VectorMath.log)
        checkBuffers(Double.self, values: positive, VectorMath.log, VectorMath.log)
        checkBuffers(Float.self, values: { Float(unit($0)) }, VectorMath.log1p, VectorMath.log1p)
        checkBuffers(Double.self, values: unit, VectorMath.log1p, VectorMath.log1p)
        checkBuffers(Float.self, values: { Float(exponent($0)) }, VectorMath.logSigmoid, VectorMath.logSigmoid)
        checkBuffers(Double.self, values: exponent, VectorMath.logSigmoid, VectorMath.logSigmoid)
        checkBuffers(Float.self, values: { Float(exponent($0)) }, VectorMath.sigmoid, VectorMath.sigmoid)
        checkBuffers(Double.self, values: exponent, VectorMath.sigmoid, VectorMath.sigmoid)
    }

    /// A kernel generic over its scalar reaches the functions through the
    /// protocol.
    @Test func genericAccess() {
        func expOfZero<S: VectorMathScalar>(_: S.Type) -> S { S.vexp(S.Vector(repeating: 0))[0] }
        #expect(expOfZero(Float.self) == 1)
        #expect(expOfZero(Double.self) == 1)
        #expect(Float.vlog(SIMD16<Float>(repeating: 1))[0] == 0)
        #expect(Double.vlogSigmoid(SIMD8<Double>(repeating: -.infinity))[0] == -.infinity)
        #expect(Float.vsigmoid(SIMD16<Float>(repeating: 0))[0] == 0.5)
        #expect(Double.vlog1p(SIMD8<Double>(repeating: 0))[0] == 0)
    }
}
