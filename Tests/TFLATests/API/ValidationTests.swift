import Testing
import TFLA
import TFLATestSupport

@Suite("Validation")
struct ValidationTests {
    static let shape = ProblemShape(batch: 2, heads: 3, sequence: 5, keyDim: 4, valueDim: 6)
    static let inputs = MLSTMInputs<Double>.random(shape, seed: 1)

    /// Every sequence entry point must refuse the same bad inputs.
    static func runAll(_ x: MLSTMInputs<Double>, initialState: MLSTMState<Double>? = nil, eps: Double = 1e-6) throws {
        _ = try Reference.recurrent(x, gate: .exponential, initialState: initialState, eps: eps)
        if initialState == nil { _ = try Reference.parallel(x, gate: .exponential, eps: eps) }
    }

    @Test func wrongKeyShape() {
        var x = Self.inputs
        x.k = Tensor(shape: [2, 3, 5, 3])
        #expect(throws: TFLAError.shapeMismatch(argument: "k", expected: [2, 3, 5, 4], given: [2, 3, 5, 3])) { try Self.runAll(x) }
    }

    @Test func wrongValueShape() {
        var x = Self.inputs
        x.v = Tensor(shape: [2, 3, 4, 6])
        #expect(throws: TFLAError.shapeMismatch(argument: "v", expected: [2, 3, 5, 6], given: [2, 3, 4, 6])) { try Self.runAll(x) }
    }

    @Test func wrongGateShapes() {
        var x = Self.inputs
        x.i = Tensor(shape: [2, 3, 5, 1])
        #expect(throws: TFLAError.shapeMismatch(argument: "i", expected: [2, 3, 5], given: [2, 3, 5, 1])) { try Self.runAll(x) }
        x = Self.inputs
        x.f = Tensor(shape: [2, 3, 4])
        #expect(throws: TFLAError.shapeMismatch(argument: "f", expected: [2, 3, 5], given: [2, 3, 4])) { try Self.runAll(x) }
    }

    @Test func wrongRanks() {
        var x = Self.inputs
        x.q = Tensor(shape: [2, 3, 5])
        #expect(throws: TFLAError.rankMismatch(argument: "q", expectedRank: 4, given: [2, 3, 5])) { try Self.runAll(x) }
        x = Self.inputs
        x.v = Tensor(shape: [2, 3, 5])
        #expect(throws: TFLAError.rankMismatch(argument: "v", expectedRank: 4, given: [2, 3, 5])) { try Self.runAll(x) }
    }

    @Test(arguments: [[0, 3, 5, 4], [2, 0, 5, 4], [2, 3, 0, 4], [2, 3, 5, 0]])
    func emptyDimensions(qShape: [Int]) {
        var x = Self.inputs
        x.q = Tensor(shape: qShape)
        #expect(throws: TFLAError.invalidShape(argument: "q", shape: qShape, reason: "every dimension must be at least 1")) { try Self.runAll(x) }
    }

    @Test func emptyValueDimension() {
        var x = Self.inputs
        x.v = Tensor(shape: [2, 3, 5, 0])
        #expect(throws: TFLAError.invalidShape(argument: "v", shape: [2, 3, 5, 0], reason: "every dimension must be at least 1")) { try Self.runAll(x) }
    }

    @Test(arguments: [-1e-6, Double.nan, Double.infinity])
    func invalidEps(eps: Double) {
        #expect(throws: TFLAError.invalidParameter(name: "eps", value: "\(eps)", requirement: "finite and ≥ 0")) {
            try Self.runAll(Self.inputs, eps: eps)
        }
    }

    @Test func wrongInitialStateShapes() {
        var state = MLSTMState<Double>(zerosFor: Self.shape)
        state.c = Tensor(shape: [2, 3, 6, 4])
        #expect(throws: TFLAError.shapeMismatch(argument: "initial state c", expected: [2, 3, 4, 6], given: [2, 3, 6, 4])) {
            try Self.runAll(Self.inputs, initialState: state)
        }
        state = MLSTMState(zerosFor: Self.shape)
        state.n = Tensor(shape: [2, 3, 6])
        #expect(throws: TFLAError.shapeMismatch(argument: "initial state n", expected: [2, 3, 4], given: [2, 3, 6])) {
            try Self.runAll(Self.inputs, initialState: state)
        }
        state = MLSTMState(zerosFor: Self.shape)
        state.m = Tensor(shape: [2, 3])
        #expect(throws: TFLAError.shapeMismatch(argument: "initial state m", expected: [2, 3, 1], given: [2, 3])) {
            try Self.runAll(Self.inputs, initialState: state)
        }
    }

    @Test func incompleteInitialState() throws {
        let c = Tensor<Double>(shape: Self.shape.memoryShape)
        #expect(throws: TFLAError.incompleteInitialState(given: ["c0"], missing: ["n0", "m0"])) {
            try MLSTMState(c: c, n: nil, m: nil, gate: .exponential)
        }
        #expect(try MLSTMState<Double>(c: nil, n: nil, m: nil, gate: .exponential) == nil)
    }

    @Test func sigmoidGateRefusesNonzeroStabilizer() {
        var state = MLSTMState<Double>(zerosFor: Self.shape)
        state.m = Tensor(shape: [2, 3, 1], repeating: 1)
        #expect(throws: TFLAError.invalidParameter(name: "initial state m", value: "nonzero (max |initial state m| = 1.0)",
                                                   requirement: "all zeros for the sigmoid gate, whose state is (c, n) with no stabilizer; leave it out")) {
            try Reference.recurrent(Self.inputs, gate: .sigmoid(normalize: true), initialState: state)
        }
    }

    @Test func stepShapes() {
        let state = MLSTMState<Double>(zerosFor: ProblemShape(batch: 2, heads: 3, sequence: 1, keyDim: 4, valueDim: 6))
        let q = Tensor<Double>(shape: [2, 3, 4]), v = Tensor<Double>(shape: [2, 3, 6]), g = Tensor<Double>(shape: [2, 3, 1])
        #expect(throws: TFLAError.shapeMismatch(argument: "k", expected: [2, 3, 4], given: [2, 3, 5])) {
            try Reference.step(q: q, k: Tensor(shape: [2, 3, 5]), v: v, i: g, f: g, state: state, gate: .exponential)
        }
        #expect(throws: TFLAError.shapeMismatch(argument: "i", expected: [2, 3, 1], given: [2, 3])) {
            try Reference.step(q: q, k: q, v: v, i: Tensor(shape: [2, 3]), f: g, state: state, gate: .exponential)
        }
        #expect(throws: TFLAError.shapeMismatch(argument: "v", expected: [2, 3, 6], given: [2, 2, 6])) {
            try Reference.step(q: q, k: q, v: Tensor(shape: [2, 2, 6]), i: g, f: g, state: state, gate: .exponential)
        }
        #expect(throws: TFLAError.shapeMismatch(argument: "state c", expected: [2, 3, 4, 6], given: [2, 3, 4, 5])) {
            var bad = state
            bad.c = Tensor(shape: [2, 3, 4, 5])
            return try Reference.step(q: q, k: q, v: v, i: g, f: g, state: bad, gate: .exponential)
        }
    }

    @Test func errorsDescribeThemselves() {
        let error = TFLAError.shapeMismatch(argument: "k", expected: [1, 2], given: [1, 3])
        #expect(error.description == "k: expected shape [1, 2], got [1, 3]")
    }
}
