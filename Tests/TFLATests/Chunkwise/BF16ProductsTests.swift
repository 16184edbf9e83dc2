import Foundation
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

    /// h at S = 8192 against the float64 forward of the float32 inputs.
    /// The denominator's products run in float32 from the unrounded
    /// operands, so the rounding of q and k (and of the products' operands)
    /// reaches h only through the numerator, which small denominators do
    /// not amplify: measured 4.2e-3 at realistic gates and 6.1e-3 at
    /// extreme ones, where rounding the inputs alone moves the float64
    /// forward by 2.5e-2 and 0.55. The error is far above float32's, so a
    /// silent fall back to float32 products fails too.
    @Test(arguments: GateDistribution.allCases)
    func forwardAccuracyAtLongSequence(gates: GateDistribution) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 8192, keyDim: 64, valueDim: 128)
        let x = MLSTMInputs<Float>.random(shape, gates: gates, seed: 21)
        let wide = x.converted(to: Double.self)
        let rounded = MLSTMInputs<Double>(
            q: x.q.converted(to: BFloat16.self).converted(), k: x.k.converted(to: BFloat16.self).converted(),
            v: x.v.converted(to: BFloat16.self).converted(), i: wide.i, f: wide.f)
        let expected = try Chunkwise.forward(wide, gate: .exponential)
        let expectedRounded = try Chunkwise.forward(rounded, gate: .exponential)
        let single = try Chunkwise.forward(x, gate: .exponential)
        let brain = try Chunkwise.forward(x, gate: .exponential, options: Self.options())
        let total = relativeError(brain.h, expected.h)
        let inputsAlone = relativeError(expectedRounded.h, expected.h)
        let errorSingle = relativeError(single.h, expected.h)
        let stateError = relativeError(brain.state.c, expectedRounded.state.c)
        print("bf16 products, \(gates) gates, S = 8192: h error \(total) against float64 (bf16 inputs alone: \(inputsAlone), float32: \(errorSingle)); \(relativeError(brain.h, expectedRounded.h)) against float64 of the rounded inputs; C error \(stateError)")
        #expect(maxMagnitude(expected.h) > 0.1)
        #expect(total <= (gates == .realistic ? 6e-3 : 8e-3), "\(total)")
        #expect(total >= 10 * errorSingle, "bf16 \(total) vs float32 \(errorSingle)")
        #expect(inputsAlone >= 3 * total, "\(inputsAlone) vs \(total)")   // the rounded inputs' own ill-conditioning
        #expect(stateError <= 5e-3, "\(stateError)")
        #expect(brain.state.m == single.state.m)   // stabilizers do not see the products
    }

    /// The rows of `Docs/oracle.md`'s tables of bf16-product accuracy
    /// (S = 8192, chunk 64), printed as Markdown; about a minute of float64
    /// work on two cores (ten minutes for ten seeds), so only on request:
    ///
    ///     TFLA_BF16_ACCURACY_TABLE=1 swift test -c release $(bash Scripts/setup/swift-flags.sh) \
    ///         --skip-build --filter accuracyTable
    ///
    /// `TFLA_BF16_ACCURACY_TABLE=test` prints only the DQK = 64 rows. Two
    /// tables over the same rows (shape, seed, gate distribution, gate):
    ///
    /// - float32 inputs, against the float64 forward of those inputs. Each
    ///   row's bf16 forward runs once per entry of
    ///   `TFLA_BF16_FLOAT32_PRODUCTS` (default `denominator`, the recipe):
    ///   `;`-separated sets of products kept in float32, each `none` or
    ///   names joined by `+` (`scores`, `normalizer`, `inter`, `intra`,
    ///   `state`, `denominator`, `all`).
    /// - the same inputs rounded to bfloat16 (q, k, v and the gates) through
    ///   `forward(storedAs:)`, against the float64 forward of the bfloat16
    ///   values widened: h returned in float32 and in bfloat16, the final
    ///   C; for comparison the float32 forward of the widened values, every
    ///   product in bf16 on them, and the float64 h itself rounded to
    ///   bfloat16 (the floor of any bfloat16 h).
    ///
    /// `TFLA_BF16_ACCURACY_INPUTS=float32` or `bfloat16` prints one table;
    /// `TFLA_BF16_ACCURACY_SEEDS=1,2,3` runs every row once per seed
    /// listed instead of at its own seed.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TFLA_BF16_ACCURACY_TABLE"] != nil))
    func accuracyTable() throws {
        let environment = ProcessInfo.processInfo.environment
        let names: [String: ForwardProducts] = [
            "none": [], "scores": .scores, "normalizer": .normalizer, "inter": .inter, "intra": .intra,
            "state": .state, "denominator": .denominator, "all": .all,
        ]
        let variants = try (environment["TFLA_BF16_FLOAT32_PRODUCTS"] ?? "denominator").split(separator: ";").map { entry in
            let set = try entry.split(separator: "+").reduce(into: ForwardProducts()) { set, name in
                guard let products = names[String(name)] else { throw TFLAError.unsupported("no product named \(name)") }
                set.formUnion(products)
            }
            return (String(entry), set)
        }
        let inputs = environment["TFLA_BF16_ACCURACY_INPUTS"] ?? "both"
        guard ["both", "float32", "bfloat16"].contains(inputs) else {
            throw TFLAError.unsupported("TFLA_BF16_ACCURACY_INPUTS is both, float32 or bfloat16, not \(inputs)")
        }
        let (float32Table, bfloat16Table) = (inputs != "bfloat16", inputs != "float32")
        let head = ProblemShape(batch: 1, heads: 8, sequence: 8192, keyDim: 256, valueDim: 512)
        let small = ProblemShape(batch: 1, heads: 2, sequence: 8192, keyDim: 64, valueDim: 128)
        let sigmoid = Gate.sigmoid(normalize: true)
        var rows: [(ProblemShape, GateDistribution, Gate, UInt64)] = [
            (head, .realistic, .exponential, 7), (head, .realistic, sigmoid, 7),
            (head, .extreme, .exponential, 7), (head, .extreme, sigmoid, 7),
            (small, .realistic, .exponential, 21), (small, .realistic, sigmoid, 21),
            (small, .extreme, .exponential, 21), (small, .extreme, sigmoid, 21),
        ]
        if environment["TFLA_BF16_ACCURACY_TABLE"] == "test" { rows.removeFirst(4) }
        if let list = environment["TFLA_BF16_ACCURACY_SEEDS"] {
            let seeds = try list.split(separator: ",").map { entry in
                guard let seed = UInt64(entry) else { throw TFLAError.unsupported("not a seed: \(entry)") }
                return seed
            }
            rows = rows.flatMap { row in seeds.map { (row.0, row.1, row.2, $0) } }
        }
        func format(_ x: Double) -> String {
            // 1.3e-6, not 1.3e-06: as the tables in the docs write it.
            x >= 0.1 ? String(format: "%.2f", x) : String(format: "%.1e", x).replacingOccurrences(of: "e-0", with: "e-")
        }
        var storageLines = [
            "bfloat16 inputs through forward(storedAs:), bf16 path \(BF16Products.automaticPath)"
                + (BF16Products.hasMatrixUnits ? "" : " (no AMX: storedAs computes in float32)") + ":",
            "| shape (B, NH, S, DQK, DHV), seed | gates | gate | float32 | all bf16 products | h float32 | h bfloat16 | h₆₄ rounded | C |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        if float32Table {
            print("float32 inputs:")
            print("| shape (B, NH, S, DQK, DHV), seed | gates | gate | float32 products | products kept in float32 | bf16 products | inputs alone | own | C (own) |")
            print("|---|---|---|---|---|---|---|---|---|")
        }
        for (shape, gates, gate, seed) in rows {
            let x = MLSTMInputs<Float>.random(shape, gates: gates, seed: seed)
            let dims = [shape.batch, shape.heads, shape.sequence, shape.keyDim, shape.valueDim].map(String.init)
            let key = "| \(dims.joined(separator: ", ")), seed \(seed) | \(gates) | \(gate == .exponential ? "exp" : "sig") | "
            if float32Table {
                let wide = x.converted(to: Double.self)
                let rounded = MLSTMInputs<Double>(
                    q: x.q.converted(to: BFloat16.self).converted(), k: x.k.converted(to: BFloat16.self).converted(),
                    v: x.v.converted(to: BFloat16.self).converted(), i: wide.i, f: wide.f)
                let expected = try Chunkwise.forward(wide, gate: gate)
                let expectedRounded = try Chunkwise.forward(rounded, gate: gate)
                let single = try Chunkwise.forward(x, gate: gate)
                let label = key + "\(format(relativeError(single.h, expected.h))) | "
                for (name, float32) in variants {
                    var options = ChunkwiseOptions()
                    options.precision = .bf16Products
                    options.bf16Float32Products = float32
                    let brain = try Chunkwise.forward(x, gate: gate, options: options)
                    print(label + "\(name) | \(format(relativeError(brain.h, expected.h))) | "
                          + "\(format(relativeError(expectedRounded.h, expected.h))) | "
                          + "\(format(relativeError(brain.h, expectedRounded.h))) | "
                          + "\(format(relativeError(brain.state.c, expectedRounded.state.c))) |")
                }
            }
            if bfloat16Table {
                // The caller's inputs are the bfloat16 values: the reference
                // is the float64 forward of exactly those values.
                let stored = x.converted(to: BFloat16.self)
                let widened = stored.converted(to: Float.self)
                let wide = widened.converted(to: Double.self)
                let expected = try Chunkwise.forward(wide, gate: gate)
                let single = try Chunkwise.forward(widened, gate: gate)
                var options = ChunkwiseOptions()
                options.precision = .bf16Products
                var allBF16 = options
                allBF16.bf16Float32Products = []
                let everyProduct = try Chunkwise.forward(widened, gate: gate, options: allBF16)
                var h = Tensor<Float>(shape: shape.valueShape)
                let state = try Chunkwise.forward(storedAs: stored, gate: gate, options: options, into: &h)
                let brief = try Chunkwise.forward(storedAs: stored, gate: gate, options: options)
                storageLines.append(key + "\(format(relativeError(single.h, expected.h))) | "
                                    + "\(format(relativeError(everyProduct.h, expected.h))) | "
                                    + "\(format(relativeError(h, expected.h))) | "
                                    + "\(format(relativeError(brief.h, expected.h))) | "
                                    + "\(format(relativeError(expected.h.converted(to: BFloat16.self), expected.h))) | "
                                    + "\(format(relativeError(state.c, expected.state.c))) |")
            }
        }
        if bfloat16Table {
            if float32Table { print("") }
            for line in storageLines { print(line) }
        }
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
    /// float32 sums; the packed AMX walk reads C as one bfloat16 term here
    /// (its two-term C is more accurate than the recipe the fallback follows).
    @Test(.enabled(if: BF16Products.hasDotProductInstructions))
    func fallbackMatchesMicroKernel() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 1000, keyDim: 64, valueDim: 96)
        for gate in [Gate.exponential, .sigmoid(normalize: true)] {
            let x = MLSTMInputs<Float>.random(shape, gates: .realistic, seed: 5)
            let fallback = try Chunkwise.forward(x, gate: gate, options: Self.options(.roundedFloat32))
            for path in Self.paths where path != .roundedFloat32 {
                var options = Self.options(path)
                options.bf16TwoTermState = false
                let fast = try Chunkwise.forward(x, gate: gate, options: options)
                let difference = relativeError(fast.h, fallback.h)
                #expect(difference > 0 || fast.h.scalars == fallback.h.scalars)
                #expect(difference <= 1e-4, "\(path), \(gate): \(difference)")
            }
        }
    }

    /// bfloat16-stored inputs through `storedAs:` with an explicit path
    /// other than AMX tiles round nothing on entry: the same bits as the
    /// widened inputs with bf16 products on that path (the AMX path reads
    /// them in place: `BFloat16ForwardTests`).
    @Test(arguments: paths.filter { $0 != .matrixUnits })
    func bfloat16StorageMatchesWidenedInputs(path: BF16Products.Path) throws {
        let shape = ProblemShape(batch: 1, heads: 1, sequence: 200, keyDim: 32, valueDim: 64)
        let x = MLSTMInputs<Float>.random(shape, seed: 6)
        let stored = x.converted(to: BFloat16.self)
        let widened = stored.converted(to: Float.self)
        let a = try Chunkwise.forward(storedAs: stored, gate: .exponential, options: Self.options(path))
        let b = try Chunkwise.forward(widened, gate: .exponential, options: Self.options(path))
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
