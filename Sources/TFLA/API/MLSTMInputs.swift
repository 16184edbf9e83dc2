/// The sizes of an mLSTM problem: batch, heads, sequence, key and value
/// head dimensions.
public struct ProblemShape: Hashable, Sendable, CustomStringConvertible {
    /// Batch entries, B.
    public var batch: Int
    /// Heads per batch entry, NH.
    public var heads: Int
    /// Tokens per sequence, S.
    public var sequence: Int
    /// The query and key head dimension, DQK (rows of C).
    public var keyDim: Int
    /// The value head dimension, DHV (columns of C and of h).
    public var valueDim: Int

    /// A shape from its five sizes.
    public init(batch: Int, heads: Int, sequence: Int, keyDim: Int, valueDim: Int) {
        self.batch = batch
        self.heads = heads
        self.sequence = sequence
        self.keyDim = keyDim
        self.valueDim = valueDim
    }

    /// `B·NH`, the number of independent recurrences.
    public var batchHeads: Int { batch * heads }

    /// `B=… NH=… S=… DQK=… DHV=…`.
    public var description: String {
        "B=\(batch) NH=\(heads) S=\(sequence) DQK=\(keyDim) DHV=\(valueDim)"
    }

    /// `(B, NH, S, DQK)`, the shape of q and k.
    public var queryShape: [Int] { [batch, heads, sequence, keyDim] }
    /// `(B, NH, S, DHV)`, the shape of v and h.
    public var valueShape: [Int] { [batch, heads, sequence, valueDim] }
    /// `(B, NH, S)`, the shape of the gate pre-activations i and f.
    public var gateShape: [Int] { [batch, heads, sequence] }
    /// `(B, NH, DQK, DHV)`, the shape of the matrix memory C.
    public var memoryShape: [Int] { [batch, heads, keyDim, valueDim] }
    /// `(B, NH, DQK)`, the shape of the normalizer state n.
    public var normalizerShape: [Int] { [batch, heads, keyDim] }
    /// `(B, NH, 1)`, the shape of the stabilizer state m.
    public var stabilizerShape: [Int] { [batch, heads, 1] }
}

/// The inputs of an mLSTM sequence: queries, keys, values and the raw gate
/// pre-activations, in the shapes of `Documentation.docc/Math.md`.
public struct MLSTMInputs<Scalar: TensorScalar>: Sendable {
    /// Queries `(B, NH, S, DQK)`.
    public var q: Tensor<Scalar>
    /// Keys `(B, NH, S, DQK)`.
    public var k: Tensor<Scalar>
    /// Values `(B, NH, S, DHV)`.
    public var v: Tensor<Scalar>
    /// Input-gate pre-activations ĩ `(B, NH, S)`.
    public var i: Tensor<Scalar>
    /// Forget-gate pre-activations f̃ `(B, NH, S)`.
    public var f: Tensor<Scalar>

    /// Inputs from their five arrays (checked by the entry they are given
    /// to, or by ``validatedShape()``).
    public init(q: Tensor<Scalar>, k: Tensor<Scalar>, v: Tensor<Scalar>, i: Tensor<Scalar>, f: Tensor<Scalar>) {
        self.q = q
        self.k = k
        self.v = v
        self.i = i
        self.f = f
    }

    /// Checks every shape against q's and returns the problem's sizes.
    /// - Throws: ``TFLAError`` naming the first inconsistent argument.
    public func validatedShape() throws(TFLAError) -> ProblemShape {
        try Validation.requireRank(q, 4, "q")
        try Validation.requireNonEmpty(q, "q")
        try Validation.requireRank(v, 4, "v")
        let shape = ProblemShape(
            batch: q.shape[0], heads: q.shape[1], sequence: q.shape[2],
            keyDim: q.shape[3], valueDim: v.shape[3])
        try Validation.requireShape(k, shape.queryShape, "k")
        try Validation.requireNonEmpty(v, "v")
        try Validation.requireShape(v, shape.valueShape, "v")
        try Validation.requireShape(i, shape.gateShape, "i")
        try Validation.requireShape(f, shape.gateShape, "f")
        try shape.requireAddressable()
        return shape
    }
}

/// The recurrent state of an mLSTM per batch entry and head: matrix memory
/// C, normalizer n and stabilizer m.
///
/// For the exponential gate the state is (C, n, m). For the sigmoid gate m
/// is identically zero, so (C, n) is a complete state: build it with
/// ``init(c:n:)``; an m given with it must be all zeros. Kernels still return
/// an all-zero m for the sigmoid gate, so that states of both gates have the
/// same parts.
public struct MLSTMState<Scalar: TensorScalar>: Sendable {
    /// Matrix memory `(B, NH, DQK, DHV)`.
    public var c: Tensor<Scalar>
    /// Normalizer `(B, NH, DQK)`.
    public var n: Tensor<Scalar>
    /// Stabilizer `(B, NH, 1)`; all zeros for the sigmoid gate.
    public var m: Tensor<Scalar>

    /// A state from its three parts.
    public init(c: Tensor<Scalar>, n: Tensor<Scalar>, m: Tensor<Scalar>) {
        self.c = c
        self.n = n
        self.m = m
    }

    /// A sigmoid-gate state (C, n): m is all zeros, of shape `(B, NH, 1)`
    /// taken from c's first two dimensions.
    public init(c: Tensor<Scalar>, n: Tensor<Scalar>) {
        self.init(c: c, n: n, m: Tensor(shape: Array(c.shape.prefix(2)) + [1]))
    }

    /// The all-zero state (m = 0, the reference package's default).
    public init(zerosFor shape: ProblemShape) {
        c = Tensor(shape: shape.memoryShape)
        n = Tensor(shape: shape.normalizerShape)
        m = Tensor(shape: shape.stabilizerShape)
    }

    /// A state whose C, n and m are not initialized: for kernel outputs
    /// that are fully overwritten.
    init(uninitializedFor shape: ProblemShape) {
        c = Tensor(uninitializedShape: shape.memoryShape)
        n = Tensor(uninitializedShape: shape.normalizerShape)
        m = Tensor(uninitializedShape: shape.stabilizerShape)
    }

    /// Zeros for n and m, and an empty placeholder for C: the default
    /// initial state of a kernel that treats a missing C₀ as zeros.
    init(zeroNormalizerFor shape: ProblemShape) {
        c = Tensor(shape: [0])
        n = Tensor(shape: shape.normalizerShape)
        m = Tensor(shape: shape.stabilizerShape)
    }

    /// An initial state from parts that may each be absent (named c0, n0,
    /// m0 in errors, as a command line or file set names them); nil when
    /// all are absent.
    ///
    /// The exponential gate needs all three. For the sigmoid gate c0 and n0
    /// are the state: m0 may be left out (it is then zeros) and, if given,
    /// must be all zeros. Shapes are checked by the entry the state is
    /// given to (or by ``validate(for:gate:prefix:)``).
    /// - Throws: ``TFLAError/incompleteInitialState(given:missing:)`` when a
    ///   needed part is missing, ``TFLAError/invalidParameter(name:value:requirement:)``
    ///   naming m0 when the sigmoid gate is given a nonzero one.
    public init?(
        c: Tensor<Scalar>?, n: Tensor<Scalar>?, m: Tensor<Scalar>?, gate: Gate
    ) throws(TFLAError) {
        let needed = gate.isStabilized ? [("c0", c != nil), ("n0", n != nil), ("m0", m != nil)]
            : [("c0", c != nil), ("n0", n != nil)]
        let given = needed.filter(\.1).map(\.0) + (gate.isStabilized || m == nil ? [] : ["m0"])
        if given.isEmpty { return nil }
        guard let c, let n, gate.isStabilized ? m != nil : true else {
            throw .incompleteInitialState(given: given, missing: needed.filter { !$0.1 }.map(\.0))
        }
        guard let m else {
            self.init(c: c, n: n)
            return
        }
        if !gate.isStabilized { try Self.requireZeroStabilizer(m, name: "m0") }
        self.init(c: c, n: n, m: m)
    }

    /// Checks the state's shapes against a problem's, that every value is
    /// finite, and for the sigmoid gate that m is all zeros.
    public func validate(for shape: ProblemShape, gate: Gate, prefix: String = "") throws(TFLAError) {
        try Validation.requireStateShapes(self, shape, names: (prefix + "c", prefix + "n", prefix + "m"))
        try Validation.requireFinite(c, prefix + "c")
        try Validation.requireFinite(n, prefix + "n")
        try Validation.requireFinite(m, prefix + "m")
        if !gate.isStabilized { try Self.requireZeroStabilizer(m, name: prefix + "m") }
    }

    private static func requireZeroStabilizer(_ m: Tensor<Scalar>, name: String) throws(TFLAError) {
        let nonzero = m.withUnsafeBufferPointer { $0.filter { $0 != 0 } }
        guard nonzero.isEmpty else {
            let largest = nonzero.map { abs($0.doubleValue) }.max()!
            throw .invalidParameter(
                name: name, value: "nonzero (max |\(name)| = \(largest))",
                requirement: "all zeros for the sigmoid gate, whose state is (c, n) with no stabilizer; leave it out")
        }
    }
}
