import Foundation

/// The recurrent state of an mLSTM layer during generation: (C, n, m) for
/// every batch entry and head, advanced in place.
///
/// Prefill a prompt of any length with the chunkwise kernel (inference mode),
/// then generate token by token with ``step(q:k:v:i:f:into:)``; memory stays
/// that of the state at any sequence length. Snapshots allow rollback, and the
/// state can be saved to and loaded from `.npy` files.
///
/// An instance is not thread-safe: use it from one thread at a time (its
/// kernels parallelize internally). It is not `Sendable` for that reason:
/// it owns mutable state and raw buffers that every call writes.
///
/// Invariant (tested): prefill(x₁…x_S) = prefill(x₁…x_j) then
/// prefill(x_{j+1}…x_S) = prefill(x₁…x_j) then S−j steps, for any j.
public final class InferenceState<Scalar: KernelScalar> {
    /// Batch, heads, key and value dimensions (`sequence` is 1).
    public let shape: ProblemShape
    /// The input gate every prefill and step uses.
    public let gate: Gate
    /// Added to every denominator (finite, ≥ 0).
    public let eps: Scalar
    /// Worker threads for steps and prefills (nil: all available cores).
    public var threads: Int?
    /// Tokens consumed since the state was created or last restored.
    public private(set) var tokens = 0
    /// How C is stored.
    public let memoryStorage: MemoryStorage
    /// n, m, and C itself when stored natively (else `c` is an empty
    /// placeholder and C lives in `halfMemory`).
    private var state: MLSTMState<Scalar>
    /// The step's per-head gate values (written by every step).
    private let forget, input, stabilizer: OwnedBuffer<Double>
    private let halfMemory: HalfMemoryStorage<Scalar>?

    /// An empty state: zeros, m = 0.
    public convenience init(batch: Int, heads: Int, keyDim: Int, valueDim: Int,
                            gate: Gate, eps: Scalar = 1e-6, memoryStorage: MemoryStorage = .native) throws(TFLAError) {
        for (name, value) in [("batch", batch), ("heads", heads), ("keyDim", keyDim), ("valueDim", valueDim)] where value < 1 {
            throw .invalidParameter(name: name, value: "\(value)", requirement: "at least 1")
        }
        let shape = ProblemShape(batch: batch, heads: heads, sequence: 1, keyDim: keyDim, valueDim: valueDim)
        try shape.requireAddressable()
        try MemoryBudget.require(shape.outputBytes(scalar: MemoryLayout<Scalar>.size) + shape.outputBytes(scalar: MemoryLayout<Scalar>.size), for: "inference state")
        try self.init(MLSTMState(zerosFor: shape), gate: gate, eps: eps, memoryStorage: memoryStorage)
    }

    /// A state from arrays: c `(B, NH, DQK, DHV)`, n `(B, NH, DQK)`, m `(B, NH, 1)`.
    ///
    /// With `memoryStorage` `.float16` or `.bfloat16` (Float only), C is
    /// kept in 16 bits — half the state's memory and memory traffic — and
    /// widened to float32 row by row inside the step kernel (for bfloat16 in
    /// registers, fused with the update: see ``MemoryStorage/bfloat16``).
    public init(_ state: MLSTMState<Scalar>, gate: Gate, eps: Scalar = 1e-6,
                memoryStorage: MemoryStorage = .native) throws(TFLAError) {
        try Validation.requireRank(state.c, 4, "c")
        try Validation.requireNonEmpty(state.c, "c")
        let dims = state.c.shape
        let shape = ProblemShape(batch: dims[0], heads: dims[1], sequence: 1, keyDim: dims[2], valueDim: dims[3])
        try state.validate(for: shape, gate: gate)
        try Validation.requireEps(eps)
        if memoryStorage != .native && Scalar.self != Float.self {
            throw .unsupported("16-bit memory storage needs Float computation, not \(Scalar.dtypeName)")
        }
        self.shape = shape
        self.gate = gate
        self.eps = eps
        self.memoryStorage = memoryStorage
        self.state = state
        forget = OwnedBuffer(capacity: shape.batchHeads)
        input = OwnedBuffer(capacity: shape.batchHeads)
        stabilizer = OwnedBuffer(capacity: shape.batchHeads)
        if memoryStorage == .native {
            halfMemory = nil
        } else {
            halfMemory = HalfMemoryStorage(format: memoryStorage, count: state.c.count,
                                           rows: shape.batchHeads * shape.valueDim)
            storeMemory(state.c)
        }
    }

    /// Moves C into 16-bit storage and leaves a placeholder in `state.c`.
    private func storeMemory(_ c: Tensor<Scalar>) {
        guard let halfMemory else {
            state.c = c
            return
        }
        c.withUnsafeBufferPointer { values in
            values.withMemoryRebound(to: Float.self) { floats in
                halfMemory.format.narrow(floats.baseAddress!, count: floats.count, into: halfMemory.bits.baseAddress)
            }
        }
        state.c = Tensor(shape: [0])
    }

    /// C in the compute type (widened from 16 bits if needed).
    private var memory: Tensor<Scalar> {
        guard let halfMemory else { return state.c }
        var c = Tensor<Scalar>(uninitializedShape: shape.memoryShape)
        c.withUnsafeMutableBufferPointer { values in
            values.withMemoryRebound(to: Float.self) { floats in
                halfMemory.format.widen(halfMemory.bits.baseAddress, count: floats.count, into: floats.baseAddress!)
            }
        }
        return c
    }

    /// With bfloat16 memory: step through the fused kernel's portable loop
    /// even where the CPU has AVX512-BF16 (its vector path gives the same
    /// bits; tests compare the two).
    package var portableBF16Step = false

    /// Whether `step` enforces the non-finite policy on each token's inputs
    /// (`Documentation.docc/Math.md`, "Non-finite inputs"; O(DQK + DHV) per head, next
    /// to the step's O(DQK·DHV)). `prefill` follows its options'
    /// ``ChunkwiseOptions/checksValues``.
    public var checksValues = true

    /// Consumes a prompt (any length) with the chunkwise kernel and returns
    /// its outputs `(B, NH, S, DHV)`.
    ///
    /// Every option applies, as for
    /// ``Chunkwise/forward(_:gate:initialState:eps:options:)``; an
    /// `options.threads` left nil takes the state's ``threads``.
    public func prefill(_ inputs: MLSTMInputs<Scalar>, options: ChunkwiseOptions = .default) throws(TFLAError) -> Tensor<Scalar> {
        let given = try inputs.validatedShape()
        try requireSameHeads(given)
        var options = options
        if options.threads == nil { options.threads = threads }
        let result = try Chunkwise.forward(inputs, gate: gate, initialState: snapshot(), eps: eps, options: options)
        state = result.state
        storeMemory(result.state.c)
        tokens += given.sequence
        return result.h
    }

    /// One token: q, k `(B, NH, DQK)`, v `(B, NH, DHV)`, i, f `(B, NH, 1)`;
    /// writes the token's output into `h`.
    ///
    /// Like ``Chunkwise/forward(_:gate:initialState:eps:options:into:)``,
    /// the step writes into the `h` it is given and never replaces it: `h`
    /// must already have the shape `(B, NH, DHV)` (it may wrap the caller's
    /// memory, ``Tensor/init(shape:wrapping:)``). Reused across steps it
    /// costs no allocation (when its storage is not shared).
    ///
    /// - Throws: ``TFLAError`` before any work when an argument is invalid,
    ///   ``TFLAError/shapeMismatch(argument:expected:given:)`` naming `h`
    ///   when its shape is not `(B, NH, DHV)`.
    public func step(q: Tensor<Scalar>, k: Tensor<Scalar>, v: Tensor<Scalar>,
                     i: Tensor<Scalar>, f: Tensor<Scalar>, into h: inout Tensor<Scalar>) throws(TFLAError) {
        let (b, nh, dqk, dhv) = (shape.batch, shape.heads, shape.keyDim, shape.valueDim)
        try Validation.requireShape(q, [b, nh, dqk], "q")
        try Validation.requireShape(k, [b, nh, dqk], "k")
        try Validation.requireShape(v, [b, nh, dhv], "v")
        try Validation.requireShape(i, [b, nh, 1], "i")
        try Validation.requireShape(f, [b, nh, 1], "f")
        if checksValues { try MLSTMInputs(q: q, k: k, v: v, i: i, f: f).validateValues(gate: gate, threads: 1) }
        try Validation.requireShape(h, [b, nh, dhv], "h")
        let workers = min(threads ?? Workers.defaultCount, Workers.maximumCount)
        let gates = StepKernel.Gates(forget: forget.baseAddress, input: input.baseAddress, stabilizer: stabilizer.baseAddress)
        MLSTMInputs(q: q, k: k, v: v, i: i, f: f).withPointers { token in
            state.withMutablePointers { target in
                h.withWritePointer { out in
                    StepKernel.run(
                        heads: shape.batchHeads, keyDim: dqk, valueDim: dhv, gate: gate, eps: Double(eps), threads: workers,
                        q: token.q, k: token.k, v: token.v, i: token.i, f: token.f,
                        c: target.c, n: target.n, m: target.m, h: out, gates: gates,
                        half: halfMemory?.view(vectorBF16: StepKernel.hasVectorBF16 && !portableBF16Step))
                }
            }
        }
        tokens += 1
    }

    /// One token, returning a new h `(B, NH, DHV)`.
    public func step(q: Tensor<Scalar>, k: Tensor<Scalar>, v: Tensor<Scalar>,
                     i: Tensor<Scalar>, f: Tensor<Scalar>) throws(TFLAError) -> Tensor<Scalar> {
        var h = Tensor<Scalar>(uninitializedShape: [shape.batch, shape.heads, shape.valueDim])
        try step(q: q, k: k, v: v, i: i, f: f, into: &h)
        return h
    }

    /// A copy of the current state in the compute type (copy-on-write for
    /// native storage: cheap until the next step; widened from 16 bits
    /// otherwise).
    public func snapshot() -> MLSTMState<Scalar> {
        MLSTMState(c: memory, n: state.n, m: state.m)
    }

    /// Returns to a snapshot (or any state of this shape).
    public func restore(_ snapshot: MLSTMState<Scalar>, tokens: Int = 0) throws(TFLAError) {
        try snapshot.validate(for: shape, gate: gate)
        state = snapshot
        storeMemory(snapshot.c)
        self.tokens = tokens
    }

    /// Writes `c.npy`, `n.npy`, `m.npy` into `directory` (which must exist).
    /// - Throws: ``NPYError`` naming the file that could not be written.
    public func save(to directory: String) throws(NPYError) {
        let current = snapshot()
        try NPY.write(current.c, to: Self.file("c", in: directory))
        try NPY.write(current.n, to: Self.file("n", in: directory))
        try NPY.write(current.m, to: Self.file("m", in: directory))
    }

    /// Reads a state saved by ``save(to:)``. For the sigmoid gate, whose
    /// state is (C, n), `m.npy` may be absent (it is then zeros) and must
    /// be all zeros if present.
    ///
    /// - Throws: ``NPYError``, as ``save(to:)`` does, so that the pair has
    ///   one error type. A file that cannot be read gives its path and
    ///   problem; arrays that were read but do not form a valid state for
    ///   `gate` and `eps` (their shapes, a nonzero m for the sigmoid gate,
    ///   or eps itself) give the directory's path and
    ///   ``NPYError/Problem/invalidState(_:)``, which holds the
    ///   ``TFLAError`` of the check that ``init(_:gate:eps:memoryStorage:)``
    ///   makes.
    public static func load(from directory: String, gate: Gate, eps: Scalar = 1e-6) throws(NPYError) -> InferenceState {
        let c = try NPY.read(contentsOf: file("c", in: directory), as: Scalar.self)
        let n = try NPY.read(contentsOf: file("n", in: directory), as: Scalar.self)
        let mPath = file("m", in: directory)
        let state: MLSTMState<Scalar>
        if !gate.isStabilized, !FileManager.default.fileExists(atPath: mPath) {
            state = MLSTMState(c: c, n: n)
        } else {
            state = MLSTMState(c: c, n: n, m: try NPY.read(contentsOf: mPath, as: Scalar.self))
        }
        do {
            return try InferenceState(state, gate: gate, eps: eps)
        } catch {
            throw NPYError(path: directory, problem: .invalidState(error))
        }
    }

    /// The path of the array `name` (`<name>.npy`) in `directory`.
    private static func file(_ name: String, in directory: String) -> String {
        (directory as NSString).appendingPathComponent(name + ".npy")
    }

    private func requireSameHeads(_ given: ProblemShape) throws(TFLAError) {
        let expected = [shape.batch, shape.heads, given.sequence, shape.keyDim]
        guard given.batch == shape.batch, given.heads == shape.heads, given.keyDim == shape.keyDim else {
            throw .shapeMismatch(argument: "q", expected: expected, given: given.queryShape)
        }
        guard given.valueDim == shape.valueDim else {
            throw .shapeMismatch(argument: "v", expected: [shape.batch, shape.heads, given.sequence, shape.valueDim], given: given.valueShape)
        }
    }
}

/// C of an ``InferenceState`` kept in 16 bits: the bits and the step's row
/// buffer (`heads × valueDim` elements of the compute type, which is Float
/// here; float16 only), owned for the state's life.
private final class HalfMemoryStorage<Scalar: KernelScalar> {
    let format: MemoryStorage
    let bits: OwnedBuffer<UInt16>
    let rows: OwnedBuffer<Scalar>

    init(format: MemoryStorage, count: Int, rows rowCount: Int) {
        precondition(Scalar.self == Float.self, "16-bit memory storage needs Float computation")
        self.format = format
        // Cache-line aligned: the bfloat16 step stores 32 values (64 bytes)
        // at a time, and at 16-byte alignment every such store spans two
        // lines (twice the traffic once C no longer fits the caches).
        bits = OwnedBuffer(capacity: count, alignment: 64)
        // The bfloat16 step converts in registers and needs no row buffer.
        rows = OwnedBuffer(capacity: format == .bfloat16 ? 0 : rowCount)
    }

    /// The step kernel's view; valid while this storage lives.
    func view(vectorBF16: Bool) -> StepKernel.HalfMemory<Scalar> {
        StepKernel.HalfMemory(format: format, bits: bits.baseAddress, rows: rows.baseAddress, vectorBF16: vectorBF16)
    }
}

extension InferenceState where Scalar == Float {
    /// ``prefill(_:options:)`` on inputs stored in bfloat16 (or float16),
    /// h returned in the storage type: with
    /// ``ChunkwiseOptions/Precision/bf16Products`` on a CPU with AMX, q, k
    /// and v are read in place (``Chunkwise/forward(storedAs:gate:initialState:eps:options:)``).
    public func prefill<Storage: TensorScalar>(
        storedAs inputs: MLSTMInputs<Storage>, options: ChunkwiseOptions = .default
    ) throws(TFLAError) -> Tensor<Storage> {
        let given = try inputs.validatedShape()
        try requireSameHeads(given)
        var options = options
        if options.threads == nil { options.threads = threads }
        let result = try Chunkwise.forward(storedAs: inputs, gate: gate, initialState: snapshot(), eps: eps,
                                           options: options)
        state = result.state
        storeMemory(result.state.c)
        tokens += given.sequence
        return result.h
    }

    /// ``step(q:k:v:i:f:into:)`` for a token stored in a 16-bit type (a
    /// bfloat16 model's projections), h written in that type: the token's
    /// inputs are widened (exact; B·NH·(2·DQK + DHV + 2) values) and the
    /// step computes in float32 on the state's storage (keep C in bfloat16
    /// with `memoryStorage: .bfloat16`); h is rounded.
    ///
    /// - Throws: ``TFLAError`` before any work when an argument is invalid,
    ///   `h`'s shape included.
    public func step<Storage: TensorScalar>(
        storedAs q: Tensor<Storage>, k: Tensor<Storage>, v: Tensor<Storage>, i: Tensor<Storage>,
        f: Tensor<Storage>, into h: inout Tensor<Storage>
    ) throws(TFLAError) {
        try Validation.requireShape(h, [shape.batch, shape.heads, shape.valueDim], "h")
        var wide = Tensor<Float>(uninitializedShape: h.shape)
        try step(q: q.converted(), k: k.converted(), v: v.converted(), i: i.converted(), f: f.converted(), into: &wide)
        wide.convert(into: &h, threads: 1)
    }
}
