import PropertyBased
import Testing
import TFLA
import TFLATestSupport

/// Property-based checks of the chunkwise kernels against the recurrent form:
/// random shapes (S = 1 and S not a multiple of the chunk among them), random
/// tilings (every field of `ChunkwiseOptions`), all three gate variants,
/// realistic and extreme gate pre-activations, thread counts 1, 2, 3 and 7,
/// with and without an initial state (and upstream final-state gradients for
/// the backward). Float64 throughout; gradients in exact mode.
///
/// Each run draws new cases. A failure prints the case and a seed;
/// `@Test(.fixedSeed("…"))` on the failing test replays it exactly, and the
/// checker first shrinks the case towards a smaller failing one.
///
/// Tolerances (Docs/testing.md, "Property-based tests", has the measurements):
/// 1e-10 relative for the forward and for every gradient with realistic
/// gates; 1e-8 with extreme gates, for the gradients, where the recurrent
/// backward itself is off by more than 1e-10, and for the forward, where a
/// denominator that nearly cancels makes h ill-conditioned (B = 1, NH = 3,
/// S = 83, DQK = 9, DHV = 7, input seed 1769878153: max|h| = 5478 at a
/// token whose q·n cancels to 1/5000 of its terms; chunks of 16–83 tokens
/// give 1.5e-11–2.2e-10 against the recurrent form, which in turn is
/// 1.9e-12 from the parallel form). For B = 1, NH = 2, S = 29, DQK = 6, DHV = 4, extreme
/// gates, input seed 999375122, 60-digit arithmetic gives dq and dk of the
/// second head to which the chunkwise kernel is within 2.8e-13 and the
/// recurrent backward within 2.3e-10.
@Suite("Chunkwise properties")
struct ChunkwisePropertyTests {
    /// One drawn problem.
    struct Case: Sendable, CustomStringConvertible {
        var shape: ProblemShape
        var options: ChunkwiseOptions
        /// The state stride of the training entries.
        var stateStride: Int
        /// Whether the forward is the training forward.
        var training: Bool
        var gate: Gate
        var gates: GateDistribution
        var initialState: Bool
        var finalGradients: Bool
        var seed: UInt64

        var description: String {
            let o = options
            return "B \(shape.batch) NH \(shape.heads) S \(shape.sequence) DQK \(shape.keyDim) DHV \(shape.valueDim); "
                + "L \(o.chunkSize) query \(o.queryTile) kv \(o.keyTile) dqk \(o.keyDimTile.map(String.init) ?? "all") "
                + "dhv \(o.valueDimTile.map(String.init) ?? "auto") stride \(stateStride) threads \(o.threads ?? 0) "
                + "parallelism \(o.parallelism.map(String.init) ?? "default") segments \(o.segments.map(String.init) ?? "auto") "
                + "mode \(training ? "training" : "inference"); \(gate) \(gates) gates; initial state \(initialState), "
                + "final-state gradients \(finalGradients); input seed \(seed)"
        }
    }

    static let threadCounts = [1, 2, 3, 7]

    /// Planned workers: nil is the machine's cores; 64 forces segments and
    /// column splits on small problems.
    static let parallelisms: [Int?] = [nil, 1, 2, 8, 64]

    /// Shapes small enough for the recurrent reference; S = 1 one time in
    /// seven, otherwise up to 90 tokens.
    static let shapes = zip(
        Gen.int(in: 1...2), Gen.int(in: 1...3),
        Gen<Int>.frequency((weight: 1, gen: Gen.always(1)), (weight: 6, gen: Gen.int(in: 2...90))),
        Gen.int(in: 1...9), Gen.int(in: 1...9)
    ).map { batch, heads, sequence, keyDim, valueDim in
        ProblemShape(batch: batch, heads: heads, sequence: sequence, keyDim: keyDim, valueDim: valueDim)
    }

    /// Tilings: mostly short chunks (many chunks, a short last one), some
    /// longer than the sequence; tiles smaller or larger than the chunk;
    /// C's rows and columns split or whole; strides, planned parallelism and
    /// segments (0 stands for nil, the automatic choice).
    static let tilings = zip(
        Gen<Int>.frequency((weight: 3, gen: Gen.int(in: 1...16)), (weight: 1, gen: Gen.int(in: 17...128))),
        Gen.int(in: 1...20), Gen.int(in: 1...20),
        Gen.int(in: 0...9), Gen.int(in: 0...9),
        Gen.int(in: 1...5),
        Gen.int(in: 0...(threadCounts.count - 1)),
        Gen.int(in: 0...(parallelisms.count - 1)),
        Gen.int(in: 0...6),
        Gen.bool
    ).map { chunk, query, kv, dqk, dhv, stride, threads, parallelism, segments, training in
        (options: ChunkwiseOptions(
            chunkSize: chunk, queryTile: query, keyTile: kv,
            keyDimTile: dqk == 0 ? nil : dqk, valueDimTile: dhv == 0 ? nil : dhv,
            threads: threadCounts[threads], parallelism: parallelisms[parallelism],
            segments: segments == 0 ? nil : segments),
         stateStride: stride, training: training)
    }

    static let cases = zip(
        shapes, tilings,
        Gen.int(in: 0...(allGates.count - 1)), Gen.bool, Gen.bool, Gen.bool,
        Gen.uint64(in: 0...UInt64(UInt32.max))
    ).map { shape, tiling, gate, extreme, initial, final, seed in
        Case(shape: shape, options: tiling.options, stateStride: tiling.stateStride, training: tiling.training,
             gate: allGates[gate], gates: extreme ? .extreme : .realistic,
             initialState: initial, finalGradients: final, seed: seed)
    }

    /// The inputs of a case; the initial state is the recurrent state after
    /// a five-token warm-up (so m is zero for the sigmoid gate).
    static func inputs(_ c: Case) throws -> (MLSTMInputs<Double>, MLSTMState<Double>?) {
        let x = MLSTMInputs<Double>.random(c.shape, gates: c.gates, seed: c.seed)
        guard c.initialState else { return (x, nil) }
        var warmShape = c.shape
        warmShape.sequence = 5
        let warmup = MLSTMInputs<Double>.random(warmShape, gates: c.gates, seed: c.seed &+ 1)
        return (x, try Reference.recurrent(warmup, gate: c.gate).state)
    }

    /// The bound on the error of h, the state or a gradient (see the
    /// suite's documentation).
    static func tolerance(_ gradient: String, _ gates: GateDistribution) -> Double {
        gates == .extreme ? 1e-8 : 1e-10
    }

    /// max |a − b| over max(max |b|, scale).
    static func scaledError(_ a: Tensor<Double>, _ b: Tensor<Double>, scale: Double) -> Double {
        let magnitude = maxMagnitude(b)
        let error = relativeError(a, b)
        let difference = magnitude == 0 ? error : error * magnitude
        let denominator = max(magnitude, scale)
        return denominator == 0 ? difference : difference / denominator
    }

    /// Float64 chunkwise forward = recurrent form: h and the final state
    /// (1e-10 relative, m 1e-12) and, in training mode, every saved chunk
    /// state.
    @Test func forwardMatchesTheRecurrentForm() async {
        await propertyCheck(count: 1000, input: Self.cases) { c in
            let (x, initial) = try Self.inputs(c)
            let expected = try Reference.recurrent(x, gate: c.gate, initialState: initial)
            #expect(maxMagnitude(expected.h) > 0, "vacuous case \(c)")
            let result = try chunkwiseForward(c.training ? .training : .inference, x, gate: c.gate, initialState: initial,
                                              stateStride: c.stateStride, options: c.options)
            expectMatchesRecurrent(result.h, result.state, expected, "\(c)", tolerance: Self.tolerance("h", c.gates))
            if c.training {
                let saved = try #require(result.chunkStates, "the training forward kept no chunk states: \(c)")
                let chunk = min(c.options.chunkSize, c.shape.sequence)
                let chunks = (c.shape.sequence + chunk - 1) / chunk
                try expectSavedStatesMatchRecurrent(saved, x, gate: c.gate, initialState: initial, chunkSize: chunk,
                                                    stride: min(c.stateStride, chunks), "\(c)")
            }
        }
    }

    /// Float64 chunkwise gradients (exact mode) = the recurrent backward:
    /// dq, dk, dv, di, df and, with an initial state, dc0, dn0, dm0, within
    /// `tolerance`; the forward it ran alongside = the recurrent form.
    @Test func gradientsMatchTheRecurrentBackward() async {
        await propertyCheck(count: 1000, input: Self.cases) { c in
            let (x, initial) = try Self.inputs(c)
            let dh = MLSTMInputs<Double>.random(c.shape, seed: c.seed &+ 2).v
            var dFinalState: MLSTMState<Double>?
            if c.finalGradients {
                var stateShape = c.shape
                stateShape.sequence = c.shape.keyDim
                let w = MLSTMInputs<Double>.random(stateShape, seed: c.seed &+ 3)
                var m = try w.i.slicing(axis: 2, 0..<1)
                if !c.gate.isStabilized { m = Tensor(shape: m.shape) }
                dFinalState = MLSTMState(c: w.v, n: try w.k.slicing(axis: 2, 0..<1).reshaped(c.shape.normalizerShape), m: m)
            }
            let expected = try Reference.recurrentBackward(x, gate: c.gate, initialState: initial, dh: dh, dFinalState: dFinalState)
            let result = try Chunkwise.gradients(x, gate: c.gate, initialState: initial, dh: dh, dFinalState: dFinalState,
                                                 mode: .exact, stateStride: c.stateStride, options: c.options)
            let (output, g) = (result.output, result.gradients)
            let forward = try Reference.recurrent(x, gate: c.gate, initialState: initial)
            expectMatchesRecurrent(output.h, output.state, forward, "\(c)", tolerance: Self.tolerance("h", c.gates))
            var pairs = [("dq", g.dq, expected.dq), ("dk", g.dk, expected.dk), ("dv", g.dv, expected.dv),
                         ("di", g.di, expected.di), ("df", g.df, expected.df)]
            if initial != nil {
                pairs += [("dc0", g.dInitialState.c, expected.dInitialState.c), ("dn0", g.dInitialState.n, expected.dInitialState.n), ("dm0", g.dInitialState.m, expected.dInitialState.m)]
            }
            #expect(maxMagnitude(expected.dv) > 0, "vacuous case \(c)")
            // Each gradient's error is relative to the largest element of
            // all the gradients of the case. A gradient that cancels to 0 or
            // to an eps-sized value is then measured on the scale of the
            // terms it sums, not on its own: dq and dk at DQK = 1 (h does
            // not change when q, or all of k, is scaled while |q·n| is the
            // larger term of the denominator), di and df where a gate acts
            // only through the stabilizer m (S = 1 without an initial
            // state: for B = NH = S = DQK = DHV = 1, realistic gates, input
            // seed 0, df = 1.5648631384941355e-9 in 40-digit arithmetic,
            // which the chunkwise kernel has to 16 digits and the
            // recurrent backward to 10), dm0 once the initial state has
            // decayed.
            let scale = pairs.map { maxMagnitude($0.2) }.max() ?? 0
            for (name, value, reference) in pairs {
                let error = Self.scaledError(value, reference, scale: scale)
                #expect(error <= Self.tolerance(name, c.gates), "\(name): error \(error); \(c)")
            }
        }
    }
}
