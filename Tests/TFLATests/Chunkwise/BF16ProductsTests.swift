import Testing
import TFLA
import TFLATestSupport

@Suite("bf16 products")
struct BF16ProductsTests {
    static func options(_ path: BF16Products.Path = .automatic, threads: Int? = nil, parallelism: Int? = 4) -> ChunkwiseOptions {
        var options = ChunkwiseOptions(threads: threads, parallelism: parallelism)
        options.precision = .bf16Products
        options.bf16Path = path
        return options
    }

    /// The paths that exist on this CPU: AMX tiles, the AVX512-BF16
    /// micro-kernel, the float32 fallback.
    static var paths: [BF16Products.Path] { BF16Products.availablePaths }

    /// `automatic` is the fastest available path, and the tile path is
    /// never offered without the instructions its packing uses.
    @Test func automaticPathIsTheFastestAvailable() {
        let available = BF16Products.availablePaths
        #expect(available.first == BF16Products.automaticPath)
        #expect(available.last == .roundedFloat32)
        #expect(available.contains(.matrixUnits) == BF16Products.hasMatrixUnits)
        #expect(available.contains(.dotProduct) == BF16Products.hasDotProductInstructions)
        if BF16Products.hasMatrixUnits { #expect(BF16Products.hasDotProductInstructions) }
    }

    @Test func roundingMatchesBFloat16() {
        for bits: UInt32 in [0x3F80_0000, 0x3F80_8000, 0x3F81_8000, 0x3F80_8001, 0xC020_0000, 0x7F7F_FFFF] {
            let x = Float(bitPattern: bits)
            #expect(BF16Products.round(x) == BFloat16(x).floatValue, "\(x)")
        }
        #expect(BF16Products.round(.nan).isNaN)
        #expect(BF16Products.round(-.infinity) == -.infinity)
        #expect(BF16Products.round(Float(bitPattern: 0x0000_1234)) == 0)   // subnormal → 0, as vdpbf16ps reads it
    }

    /// Each product against float64 arithmetic on the rounded operands, at
    /// sizes that leave partial register tiles and odd k, all transpositions
    /// and betas: only the float32 accumulation differs.
    @Test(arguments: [(13, 37, 7), (8, 32, 2), (64, 64, 256), (3, 70, 65), (17, 1, 33)])
    func productAgainstFloat64(m: Int, n: Int, k: Int) {
        var rng = SplitMix64(seed: UInt64(m * 1000 + n * 10 + k))
        for path in Self.paths {
            for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
                for beta: Float in [0, 1, 0.5] {
                    let product = BF16ProductCase(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                                  alpha: 0.75, beta: beta)
                    let worst = product.worstError(path: path) { Float(rng.normal()) }
                    #expect(worst <= Double(k + 2) * 6e-8, "\(path) \(transposeA) \(transposeB) beta \(beta): \(worst)")
                }
            }
        }
    }

    /// h at S = 8192 against float64 arithmetic. Against the float64
    /// forward of the bf16-rounded inputs (what the products see) the error
    /// is the kernel's own: within 1e-2 at realistic gates (measured 9.8e-3;
    /// extreme 9.2e-3). Against the float64 forward of the float32 inputs it
    /// is that of rounding the inputs alone (the float64 forward of the
    /// rounded inputs is as far off: small denominators amplify it), and it
    /// is far above float32's, so the products really round to 8 bits.
    @Test(arguments: GateDistribution.allCases)
    func forwardAccuracyAtLongSequence(gates: GateDistribution) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 8192, keyDim: 64, valueDim: 128)
        let x = MLSTMInputs<Float>.random(shape, gates: gates, seed: 21)
        let wide = MLSTMInputs<Double>(q: x.q.converted(), k: x.k.converted(), v: x.v.converted(),
                                       i: x.i.converted(), f: x.f.converted())
        let rounded = MLSTMInputs<Double>(
            q: x.q.converted(to: BFloat16.self).converted(), k: x.k.converted(to: BFloat16.self).converted(),
            v: x.v.converted(to: BFloat16.self).converted(), i: wide.i, f: wide.f)
        let expected = try Chunkwise.forward(wide, gate: .exponential)
        let expectedRounded = try Chunkwise.forward(rounded, gate: .exponential)
        let single = try Chunkwise.forward(x, gate: .exponential)
        let brain = try Chunkwise.forward(x, gate: .exponential, options: Self.options())
        let own = relativeError(brain.h, expectedRounded.h)
        let total = relativeError(brain.h, expected.h)
        let inputsAlone = relativeError(expectedRounded.h, expected.h)
        let errorSingle = relativeError(single.h, expected.h)
        print("bf16 products, \(gates) gates, S = 8192: h error \(total) against float64 (bf16 inputs alone: \(inputsAlone), float32: \(errorSingle)); \(own) against float64 of the rounded inputs; C error \(relativeError(brain.state.c, expectedRounded.state.c))")
        #expect(maxMagnitude(expected.h) > 0.1)
        #expect(own <= (gates == .realistic ? 1e-2 : 1.5e-2), "\(own)")
        #expect(own >= 100 * errorSingle, "bf16 \(own) vs float32 \(errorSingle)")
        #expect(total <= inputsAlone + own, "\(total) vs \(inputsAlone) + \(own)")
        #expect(relativeError(brain.state.c, expectedRounded.state.c) <= 1e-2)
        #expect(brain.state.m == single.state.m)   // stabilizers do not see the products
    }

    @Test func threadInvariance() throws {
        let shape = ProblemShape(batch: 1, heads: 3, sequence: 700, keyDim: 32, valueDim: 160)
        let x = MLSTMInputs<Float>.random(shape, gates: .realistic, seed: 4)
        for path in Self.paths {
            let first = try Chunkwise.forward(x, gate: .exponential, options: Self.options(path, threads: 1))
            for threads in [2, 3, 7] {
                let other = try Chunkwise.forward(x, gate: .exponential, options: Self.options(path, threads: threads))
                #expect(other.h.scalars == first.h.scalars, "\(path), \(threads) threads")
                #expect(other.state.c.scalars == first.state.c.scalars, "\(path), \(threads) threads")
                #expect(other.state.n.scalars == first.state.n.scalars, "\(path), \(threads) threads")
            }
        }
    }

    /// The float32 fallback on rounded operands equals the micro-kernel and
    /// the tile kernel (where the CPU has them) up to the order of the
    /// float32 sums.
    @Test(.enabled(if: BF16Products.hasDotProductInstructions))
    func fallbackMatchesMicroKernel() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 1000, keyDim: 64, valueDim: 96)
        for gate in [Gate.exponential, .sigmoid(normalize: true)] {
            let x = MLSTMInputs<Float>.random(shape, gates: .realistic, seed: 5)
            let fallback = try Chunkwise.forward(x, gate: gate, options: Self.options(.roundedFloat32))
            for path in Self.paths where path != .roundedFloat32 {
                let fast = try Chunkwise.forward(x, gate: gate, options: Self.options(path))
                let difference = relativeError(fast.h, fallback.h)
                #expect(difference > 0 || fast.h.scalars == fallback.h.scalars)
                #expect(difference <= 1e-4, "\(path), \(gate): \(difference)")
            }
        }
    }

    /// bfloat16-stored inputs through `storedAs:` round nothing on entry:
    /// the same bits as the widened inputs with bf16 products.
    @Test func bfloat16StorageMatchesWidenedInputs() throws {
        let shape = ProblemShape(batch: 1, heads: 1, sequence: 200, keyDim: 32, valueDim: 64)
        let x = MLSTMInputs<Float>.random(shape, seed: 6)
        let stored = MLSTMInputs<BFloat16>(q: x.q.converted(), k: x.k.converted(), v: x.v.converted(),
                                           i: x.i.converted(), f: x.f.converted())
        let widened = MLSTMInputs<Float>(q: stored.q.converted(), k: stored.k.converted(), v: stored.v.converted(),
                                         i: stored.i.converted(), f: stored.f.converted())
        let a = try Chunkwise.forward(storedAs: stored, gate: .exponential, options: Self.options())
        let b = try Chunkwise.forward(widened, gate: .exponential, options: Self.options())
        #expect(a.h.converted(to: Float.self).scalars == b.h.converted(to: BFloat16.self).converted(to: Float.self).scalars)
    }

    @Test func refusesDoubleAndTraining() throws {
        let shape = ProblemShape(batch: 1, heads: 1, sequence: 64, keyDim: 8, valueDim: 8)
        let wide = MLSTMInputs<Double>.random(shape, seed: 1)
        #expect(throws: TFLAError.self) { try Chunkwise.forward(wide, gate: .exponential, options: Self.options()) }
        let x = MLSTMInputs<Float>.random(shape, seed: 1)
        #expect(throws: TFLAError.self) { try Chunkwise.trainingForward(x, gate: .exponential, options: Self.options()) }
        do {
            _ = try Chunkwise.forward(wide, gate: .exponential, options: Self.options())
        } catch {
            guard case .unsupported(let message) = error else { Issue.record("\(error)"); return }
            #expect(message.contains("Float"))
        }
    }
}
