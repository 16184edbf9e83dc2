import Testing
import TFLA
import TFLATestSupport

/// The non-finite policy (`Sources/TFLA/Documentation.docc/Math.md`, "Non-finite inputs"): NaN and
/// meaningless infinities are refused by name and first index by every
/// entry point; the meaningful infinities of the gates are exact limits.
@Suite("Non-finite values")
struct NonFiniteTests {
    static let shape = ProblemShape(batch: 2, heads: 2, sequence: 21, keyDim: 5, valueDim: 6)
    static let options = ChunkwiseOptions(chunkSize: 8, queryTile: 4, keyTile: 4)
    /// Inference and training forwards with their tilings.
    static let variants: [(kind: ForwardKind, tiling: TrainingTiling)] = [
        (.inference, TrainingTiling(chunkSize: 8, queryTile: 4, keyTile: 4)),
        (.inference, TrainingTiling(chunkSize: 8, queryTile: 4, keyTile: 2, valueDimTile: 2, parallelism: 64)),
        (.training, TrainingTiling(chunkSize: 8, queryTile: 3, keyTile: 5, stateStride: 2)),
        (.training, TrainingTiling(chunkSize: 4, queryTile: 4, keyTile: 4, valueDimTile: 3, parallelism: 64)),
    ]

    static func setting<S: KernelScalar>(_ tensor: Tensor<S>, _ values: [(Int, S)]) -> Tensor<S> {
        var result = tensor
        result.withUnsafeMutableBufferPointer { buffer in
            for (index, value) in values { buffer[index] = value }
        }
        return result
    }

    /// The error's argument, index and value, or nil if `body` did not
    /// throw `nonFiniteValue`.
    static func refusal(_ body: () throws -> Void) -> (String, [Int], String)? {
        do {
            try body()
        } catch {
            if case let .nonFiniteValue(argument, index, value, _)? = error as? TFLAError { return (argument, index, value) }
            Issue.record("unexpected error \(error)")
        }
        return nil
    }

    static func expectRefused(_ expected: (String, [Int], String), _ label: String,
                              _ body: () throws -> Void) {
        let got = refusal(body)
        #expect(got?.0 == expected.0 && got?.1 == expected.1 && got?.2 == expected.2,
                "\(label): expected \(expected), got \(String(describing: got))")
    }

    /// A NaN or infinity in q, k or v, or a NaN in a gate, is refused with
    /// the array's name and the first offending index by every entry point.
    @Test(arguments: ["q", "k", "v", "i", "f"], [Double.nan, .infinity, -.infinity])
    func refusedByEveryEntryPoint(name: String, value: Double) throws {
        // Gates accept ±inf (except +inf in i for the exponential gate).
        if (name == "f" || name == "i") && value == -.infinity { return }
        if name == "f" && value == .infinity { return }
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 3)
        var bad = x
        let dims: [Int]
        switch name {
        case "q": dims = Self.shape.queryShape; bad.q = Self.setting(x.q, [(1 * 21 * 5 + 13 * 5 + 2, value), (3 * 21 * 5, value)])
        case "k": dims = Self.shape.queryShape; bad.k = Self.setting(x.k, [(1 * 21 * 5 + 13 * 5 + 2, value), (3 * 21 * 5, value)])
        case "v": dims = Self.shape.valueShape; bad.v = Self.setting(x.v, [(1 * 21 * 6 + 13 * 6 + 2, value), (3 * 21 * 6, value)])
        case "i": dims = Self.shape.gateShape; bad.i = Self.setting(x.i, [(1 * 21 + 13, value), (3 * 21, value)])
        default: dims = Self.shape.gateShape; bad.f = Self.setting(x.f, [(1 * 21 + 13, value), (3 * 21, value)])
        }
        let index = dims.count == 4 ? [0, 1, 13, 2] : [0, 1, 13]
        let expected = (name, index, value.isNaN ? "nan" : value > 0 ? "+inf" : "-inf")
        let dh = MLSTMInputs<Double>.random(Self.shape, seed: 4).v
        let gate = Gate.exponential
        for (kind, tiling) in Self.variants {
            Self.expectRefused(expected, "\(kind) forward \(tiling)") {
                _ = try chunkwiseForward(kind, bad, gate: gate, stateStride: tiling.stateStride, options: tiling.options)
            }
        }
        Self.expectRefused(expected, "gradients") { _ = try Chunkwise.gradients(bad, gate: gate, dh: dh) }
        Self.expectRefused(expected, "packed forward") {
            _ = try Chunkwise.forward(packed: bad, sequenceOffsets: [0, 5, 21], gate: gate, options: Self.options)
        }
        Self.expectRefused(expected, "packed gradients") {
            _ = try Chunkwise.gradients(packed: bad, sequenceOffsets: [0, 5, 21], gate: gate, dh: dh)
        }
        Self.expectRefused(expected, "summary") { _ = try Chunkwise.summary(of: bad, gate: gate, options: Self.options) }
        Self.expectRefused(expected, "recurrent") { _ = try Reference.recurrent(bad, gate: gate) }
        Self.expectRefused(expected, "parallel") { _ = try Reference.parallel(bad, gate: gate) }
        Self.expectRefused(expected, "recurrent backward") { _ = try Reference.recurrentBackward(bad, gate: gate, dh: dh) }
        Self.expectRefused(expected, "parallel backward") { _ = try Reference.parallelBackward(bad, gate: gate, dh: dh) }
        let x32 = bad.converted(to: Float.self)
        Self.expectRefused(expected, "float32 forward") { _ = try Chunkwise.forward(x32, gate: gate, options: Self.options) }
        Self.expectRefused(expected, "half precision") {
            let half = bad.converted(to: Float16.self)
            _ = try Chunkwise.forward(storedAs: half, gate: gate, options: Self.options)
        }
        // One token of the bad position through the step kernels.
        let token = try bad.sequenceSlice(13..<14)
        func squeeze(_ t: Tensor<Double>) throws -> Tensor<Double> {
            try t.reshaped(t.shape.count == 4 ? [2, 2, t.shape[3]] : [2, 2, 1])
        }
        let (q, k, v, i, f) = (try squeeze(token.q), try squeeze(token.k), try squeeze(token.v), try squeeze(token.i),
                               try squeeze(token.f))
        let stepIndex = dims.count == 4 ? [0, 1, 2] : [0, 1, 0]
        let stepExpected = (name, stepIndex, expected.2)
        Self.expectRefused(stepExpected, "reference step") {
            _ = try Reference.step(q: q, k: k, v: v, i: i, f: f, state: MLSTMState(zerosFor: Self.shape), gate: gate)
        }
        let state = try InferenceState<Double>(batch: 2, heads: 2, keyDim: 5, valueDim: 6, gate: gate)
        Self.expectRefused(stepExpected, "inference step") { _ = try state.step(q: q, k: k, v: v, i: i, f: f) }
    }

    /// States and upstream gradients must be finite.
    @Test func statesAndGradients() throws {
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 5)
        let dh = MLSTMInputs<Double>.random(Self.shape, seed: 6).v
        var state = MLSTMState<Double>(zerosFor: Self.shape)
        state.c = Self.setting(state.c, [(5 * 6 + 7, .nan)])
        Self.expectRefused(("initial state c", [0, 1, 1, 1], "nan"), "forward") {
            _ = try Chunkwise.forward(x, gate: .exponential, initialState: state)
        }
        Self.expectRefused(("initial state c", [0, 1, 1, 1], "nan"), "recurrent") {
            _ = try Reference.recurrent(x, gate: .exponential, initialState: state)
        }
        let badDh = Self.setting(dh, [(2 * 21 * 6 + 6 + 1, .infinity)])
        Self.expectRefused(("dh", [1, 0, 1, 1], "+inf"), "gradients") {
            _ = try Chunkwise.gradients(x, gate: .exponential, dh: badDh)
        }
        Self.expectRefused(("dh", [1, 0, 1, 1], "+inf"), "recurrent backward") {
            _ = try Reference.recurrentBackward(x, gate: .exponential, dh: badDh)
        }
        var dFinalState = MLSTMState<Double>(zerosFor: Self.shape)
        dFinalState.m = Self.setting(dFinalState.m, [(3, -.infinity)])
        Self.expectRefused(("dm", [1, 1, 0], "-inf"), "gradients dm") {
            _ = try Chunkwise.gradients(x, gate: .exponential, dh: dh, dFinalState: dFinalState)
        }
    }

    /// ĩ = +∞ has no finite stabilizer with the exponential gate; with the
    /// sigmoid gate it is an input gate of 1, the same as ĩ = 1e30.
    @Test func infiniteInputGate() throws {
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 7)
        var bad = x
        bad.i = Self.setting(x.i, [(30, .infinity)])
        Self.expectRefused(("i", [0, 1, 9], "+inf"), "exp") { _ = try Chunkwise.forward(bad, gate: .exponential) }
        var large = x
        large.i = Self.setting(x.i, [(30, 1e30)])
        for gate in [Gate.sigmoid(normalize: true), .sigmoid(normalize: false)] {
            let expected = try Reference.recurrent(large, gate: gate)
            #expect(try Reference.recurrent(bad, gate: gate).h == expected.h)
            for (kind, tiling) in Self.variants {
                let result = try chunkwiseForward(kind, bad, gate: gate, stateStride: tiling.stateStride, options: tiling.options)
                expectMatchesRecurrent(result.h, result.state, expected, "\(gate) \(kind) \(tiling)")
            }
        }
    }

    /// f̃ = −∞ is an exact reset: the same as f̃ = −1e30, in the forward
    /// and the gradients, and the chunkwise kernels equal the recurrent form.
    @Test(arguments: [0, 3, 8, 13, 20])
    func minusInfinityForgetGateResets(position: Int) throws {
        var c = try ChunkwiseBackwardTests.makeCase(Self.shape, gate: .exponential, seed: 8, initialState: true,
                                                    finalGradients: true)
        var finite = c.x
        c.x.f = Self.setting(c.x.f, [(position, -.infinity), (21 + position, -.infinity)])
        finite.f = Self.setting(finite.f, [(position, -1e30), (21 + position, -1e30)])
        for gate in allGates {
            let state = gate.isStabilized ? c.state : c.state.map { MLSTMState(c: $0.c, n: $0.n) }
            var dFinalState = c.dFinalState
            if !gate.isStabilized, let m = dFinalState?.m { dFinalState?.m = Tensor(shape: m.shape) }
            let expected = try Reference.recurrent(finite, gate: gate, initialState: state)
            #expect(try Reference.recurrent(c.x, gate: gate, initialState: state).h == expected.h)
            for (kind, tiling) in Self.variants {
                let result = try chunkwiseForward(kind, c.x, gate: gate, initialState: state, stateStride: tiling.stateStride,
                                                  options: tiling.options)
                expectMatchesRecurrent(result.h, result.state, expected, "\(gate) \(kind) \(tiling)")
            }
            let reference = try Reference.recurrentBackward(finite, gate: gate, initialState: state, dh: c.dh, dFinalState: dFinalState)
            let g = try Chunkwise.gradients(c.x, gate: gate, initialState: state, dh: c.dh, dFinalState: dFinalState,
                                            stateStride: Self.variants[3].tiling.stateStride,
                                            options: Self.variants[3].tiling.options).gradients
            ChunkwiseBackwardTests.expectClose(g, reference, tolerance: 1e-10, initialState: true, "−inf \(gate)")
        }
    }

    /// Padding tokens (ĩ = −∞, f̃ = +∞) change nothing: the other tokens'
    /// outputs and the final state equal those of the sequence without them,
    /// wherever the padding sits (whole chunks of it included).
    @Test func paddingTokensAreNoOps() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 40, keyDim: 5, valueDim: 6)
        let padding: Set<Int> = [0, 1, 2, 7, 8, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 39]
        let kept = (0..<40).filter { !padding.contains($0) }
        var x = MLSTMInputs<Double>.random(shape, seed: 9)
        let flat = (0..<2).flatMap { head in padding.map { head * 40 + $0 } }
        x.i = Self.setting(x.i, flat.map { ($0, -.infinity) })
        x.f = Self.setting(x.f, flat.map { ($0, .infinity) })
        func keep(_ t: Tensor<Double>) throws -> Tensor<Double> {
            // Rows of the last axis (or scalars) of the kept tokens, per head.
            let width = t.shape.count == 4 ? t.shape[3] : 1
            let all = t.scalars
            var values: [Double] = []
            for head in 0..<2 {
                for token in kept {
                    let start = (head * 40 + token) * width
                    values += all[start..<(start + width)]
                }
            }
            var dims = t.shape
            dims[2] = kept.count
            return try Tensor(shape: dims, scalars: values)
        }
        let compact = MLSTMInputs(q: try keep(x.q), k: try keep(x.k), v: try keep(x.v), i: try keep(x.i), f: try keep(x.f))
        let warm = try Reference.recurrent(MLSTMInputs<Double>.random(
            ProblemShape(batch: 1, heads: 2, sequence: 3, keyDim: 5, valueDim: 6), seed: 10), gate: .exponential).state
        for gate in allGates {
            let state = gate.isStabilized ? warm : MLSTMState(c: warm.c, n: warm.n)
            let expected = try Reference.recurrent(compact, gate: gate, initialState: state)
            for (kind, tiling) in Self.variants {
                let result = try chunkwiseForward(kind, x, gate: gate, initialState: state, stateStride: tiling.stateStride,
                                                  options: tiling.options)
                #expect(relativeError(try keep(result.h), expected.h) <= 1e-10, "h \(gate) \(kind) \(tiling)")
                #expect(relativeError(result.state.c, expected.state.c) <= 1e-10, "c \(gate) \(kind) \(tiling)")
                #expect(relativeError(result.state.m, expected.state.m) <= 1e-12, "m \(gate) \(kind) \(tiling)")
            }
        }
    }

    /// The exponential gate refuses a reset with no input on one token
    /// (ĩ = f̃ = −∞); the sigmoid gate takes it as a reset to the empty state.
    @Test func resetWithoutInput() throws {
        var x = MLSTMInputs<Double>.random(Self.shape, seed: 11)
        x.i = Self.setting(x.i, [(26, -.infinity)])
        x.f = Self.setting(x.f, [(26, -.infinity)])
        Self.expectRefused(("i", [0, 1, 5], "-inf"), "exp") { _ = try Chunkwise.forward(x, gate: .exponential) }
        Self.expectRefused(("i", [0, 1, 5], "-inf"), "exp recurrent") { _ = try Reference.recurrent(x, gate: .exponential) }
        for gate in [Gate.sigmoid(normalize: true), .sigmoid(normalize: false)] {
            let expected = try Reference.recurrent(x, gate: gate)
            #expect(maxMagnitude(expected.h) > 0 && relativeError(expected.h, expected.h) == 0)
            for (kind, tiling) in Self.variants {
                let result = try chunkwiseForward(kind, x, gate: gate, stateStride: tiling.stateStride, options: tiling.options)
                expectMatchesRecurrent(result.h, result.state, expected, "\(gate) \(kind) \(tiling)")
            }
        }
    }

    /// With the check off, non-finite inputs return (unspecified values)
    /// instead of throwing; with it on, a float32 result that overflows
    /// from valid inputs is reported as h.
    @Test func uncheckedAndOverflow() throws {
        var x = MLSTMInputs<Float>.random(Self.shape, seed: 12)
        var unchecked = Self.options
        unchecked.checksValues = false
        var bad = x
        bad.v = Self.setting(x.v, [(40, .nan)])
        let result = try Chunkwise.forward(bad, gate: .exponential, options: unchecked)
        #expect(result.h.shape == Self.shape.valueShape)
        x.q = Self.setting(x.q, [(10 * 5, 1e25), (10 * 5 + 1, 1e25)])
        x.k = Self.setting(x.k, [(10 * 5, 1e25), (10 * 5 + 1, -1e25)])
        Self.expectRefused(("h", [0, 0, 10, 0], "-inf"), "overflow") {
            _ = try Chunkwise.forward(x, gate: .sigmoid(normalize: false), options: Self.options)
        }
    }
}
