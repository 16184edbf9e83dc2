/// The state a forward starts from; C₀ = 0 when `c` is nil (no pass over a
/// zero state before the work starts).
struct InitialStatePointers<Scalar: TensorScalar> {
    let c: UnsafePointer<Scalar>?
    let n, m: UnsafePointer<Scalar>
}

/// Where a forward writes h and the final state.
struct ForwardOutputPointers<Scalar: TensorScalar> {
    let rows: StoredRows<UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<UInt16>>
    let state: MutableStatePointers<Scalar>

    /// h in the inputs' scalar type.
    init(h: UnsafeMutablePointer<Scalar>, state: MutableStatePointers<Scalar>) {
        (rows, self.state) = (.native(h), state)
    }

    /// h as bfloat16 bits (Float contexts whose chunks are packed once).
    init(bfloat16H h: UnsafeMutablePointer<UInt16>, state: MutableStatePointers<Scalar>) {
        (rows, self.state) = (.bfloat16(h), state)
    }
}

/// Where rows of q, k, v or h live: in the context's scalar type, or as
/// bfloat16 bits, which only the chunk walk with operands packed once per
/// chunk (`PackedChunkWalk.swift`) reads or writes.
enum StoredRows<Native, BFloat16Bits> {
    case native(Native)
    case bfloat16(BFloat16Bits)
}

/// q, k and v of a forward.
typealias ForwardOperands<Scalar: TensorScalar> = StoredRows<
    (q: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>),
    (q: UnsafePointer<UInt16>, k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>)>

/// Pointers and sizes shared by all work items of one forward call.
///
/// The pointers come from the scoped accessors (`withPointers`,
/// `withMutablePointers`, `KernelPointers.swift`) and are valid only inside
/// the closure that received them: a context never outlives that closure.
struct ForwardContext<Scalar: KernelScalar> {
    let shape: ProblemShape
    /// The call's work decomposition; the drivers carry it out.
    let plan: ChunkwisePlan
    let gate: Gate
    let eps: Double
    /// The query scale s = DQK^(−1/2).
    let scale: Double
    /// q, k and v: in `Scalar`, or bfloat16 bits (see ``StoredRows``).
    let operands: ForwardOperands<Scalar>
    /// The gates, always in `Scalar`.
    let i, f: UnsafePointer<Scalar>
    /// The initial state; nil for passes that start from the empty state
    /// and never read one (segment summaries).
    let initial: InitialStatePointers<Scalar>?
    /// h and the final state; nil for passes that write neither (segment
    /// summaries, the backward's recomputation of chunk states).
    let output: ForwardOutputPointers<Scalar>?
    /// The tokens (along S) this call covers: all of them, or one sequence
    /// of a packed batch.
    var tokens: Range<Int>
    /// Where to record z_t = q̄_t·n₋ + Σ_j S̄_tj, the argument of the
    /// denominator's |·|, per token (for the backward pass); nil: not kept.
    var denominatorArguments: UnsafeMutablePointer<Scalar>?
    /// The decayed intra-chunk scores of every chunk, computed once and
    /// shared by all column tiles; nil: each item computes its own.
    var sharedScores: SharedScorePointers<Scalar>?
    /// Raised by any item that wrote a non-finite h; nil: not checked
    /// (`ChunkwiseOptions.checksValues`).
    var nonFinite: NonFiniteFlag?
    /// How the products are computed (`ChunkwiseOptions.precision`).
    var products: ProductKernel = .float32
    /// With packed chunks: whether Q·C reads C as two bfloat16 terms
    /// (`ChunkwiseOptions.bf16TwoTermState`).
    var twoTermState = false

    /// The one way a forward context is made: by the forward, the packed
    /// forward, the segment summary and the backward.
    init(plan: ChunkwisePlan, eps: Double,
         inputs: InputPointers<Scalar>, initial: InitialStatePointers<Scalar>?, output: ForwardOutputPointers<Scalar>?) {
        self.shape = plan.shape
        self.plan = plan
        self.gate = plan.gate
        self.eps = eps
        self.scale = 1 / Double(shape.keyDim).squareRoot()
        operands = .native((inputs.q, inputs.k, inputs.v))
        (i, f) = (inputs.i, inputs.f)
        self.initial = initial
        self.output = output
        self.tokens = 0..<shape.sequence
    }

    /// A forward context on bfloat16 q, k and v (with gates in `Scalar`),
    /// for the chunk walk that packs each chunk's operands once.
    init(plan: ChunkwisePlan, eps: Double,
         bfloat16 operands: (q: UnsafePointer<UInt16>, k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>),
         i: UnsafePointer<Scalar>, f: UnsafePointer<Scalar>,
         initial: InitialStatePointers<Scalar>?, output: ForwardOutputPointers<Scalar>?) {
        self.shape = plan.shape
        self.plan = plan
        self.gate = plan.gate
        self.eps = eps
        self.scale = 1 / Double(shape.keyDim).squareRoot()
        self.operands = .bfloat16(operands)
        (self.i, self.f) = (i, f)
        self.initial = initial
        self.output = output
        self.tokens = 0..<shape.sequence
    }

    /// The sizes in force (the plan's).
    var tiling: ResolvedTiling { plan.tiling }

    /// Takes the options' product routine (and two-term C) and the call's
    /// non-finite flag: what every forward entry sets after making its
    /// contexts.
    mutating func apply(_ options: ChunkwiseOptions, nonFinite: NonFiniteFlag?) {
        self.nonFinite = nonFinite
        products = options.productKernel
        twoTermState = options.bf16TwoTermState
    }

    /// q, k and v in `Scalar` (every kernel but the packed chunk walk).
    var q: UnsafePointer<Scalar> { nativeOperands.q }
    var k: UnsafePointer<Scalar> { nativeOperands.k }
    var v: UnsafePointer<Scalar> { nativeOperands.v }

    private var nativeOperands: (q: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>) {
        guard case .native(let operands) = operands else {
            preconditionFailure("bfloat16 operands are read by the packed chunk walk only")
        }
        return operands
    }

    /// C₀, or nil for C₀ = 0.
    var c0: UnsafePointer<Scalar>? { initial?.c }
    /// n₀ and m₀ (a pass that reads them has an initial state).
    var n0: UnsafePointer<Scalar> { startingState.n }
    var m0: UnsafePointer<Scalar> { startingState.m }
    /// The outputs h, C, n, m (a pass that writes them has outputs).
    var h: UnsafeMutablePointer<Scalar> {
        guard case .native(let h) = written.rows else { preconditionFailure("a bfloat16 h is written by the packed chunk walk only") }
        return h
    }
    /// Where h's rows go, in either storage.
    var hRows: StoredRows<UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<UInt16>> { written.rows }
    var c: UnsafeMutablePointer<Scalar> { written.state.c }
    var n: UnsafeMutablePointer<Scalar> { written.state.n }
    var m: UnsafeMutablePointer<Scalar> { written.state.m }

    private var startingState: InitialStatePointers<Scalar> {
        guard let initial else { preconditionFailure("a forward pass without an initial state read one") }
        return initial
    }

    private var written: ForwardOutputPointers<Scalar> {
        guard let output else { preconditionFailure("a forward pass without outputs wrote one") }
        return output
    }

    /// Number of chunks of `tokens` (the last may be partial).
    var chunkCount: Int { (tokens.count + tiling.chunk - 1) / tiling.chunk }

    /// The tokens of chunk `index` of `head`: first token (flat over heads)
    /// and length.
    func chunk(_ index: Int, head: Int) -> (token: Int, length: Int) {
        let start = tokens.lowerBound + index * tiling.chunk
        return (head * shape.sequence + start, min(tiling.chunk, tokens.upperBound - start))
    }
}

/// One worker's scratch, sized once for the largest chunk and tile; each
/// buffer is an ``OwnedBuffer``, freed with the scratch.
final class ForwardScratch<Scalar: KernelScalar> {
    let gates: ChunkGates
    let scores: OwnedBuffer<Scalar>
    let weightedKeys: OwnedBuffer<Scalar>
    let normalizer: OwnedBuffer<Scalar>
    let rowSum: OwnedBuffer<Scalar>
    let interDot: OwnedBuffer<Scalar>
    /// e^{A_t − A′_t}: the factor of shared scores' rows.
    let rowScale: OwnedBuffer<Scalar>
    /// A private copy of a tile of C (the running state of a scan item, or
    /// training mode's output kernel).
    let memoryTile: OwnedBuffer<Scalar>
    /// With AMX products: the running C tile as the state update leaves it,
    /// rounded to bfloat16 in the tile layout of the next chunk's Q·C
    /// (`BF16Products.swift`): converted while the update holds it, not in a
    /// separate pass before Q·C.
    let packedState: OwnedBuffer<UInt32>
    /// With operands packed once per chunk: the chunk's packed operands and
    /// products (`PackedChunkWalk.swift`); nil otherwise.
    let chunkTiles: PackedChunkTiles?

    init(_ context: ForwardContext<Scalar>, memoryTile memoryTileCount: Int = 0) {
        let tiling = context.tiling
        gates = ChunkGates(capacity: tiling.chunk)
        scores = OwnedBuffer(capacity: tiling.query * tiling.kv)
        weightedKeys = OwnedBuffer(capacity: tiling.chunk * context.shape.keyDim)
        normalizer = OwnedBuffer(capacity: context.shape.keyDim)
        rowSum = OwnedBuffer(capacity: tiling.chunk)
        interDot = OwnedBuffer(capacity: tiling.chunk)
        rowScale = OwnedBuffer(capacity: tiling.chunk)
        memoryTile = OwnedBuffer(capacity: max(memoryTileCount, 1))
        packedState = OwnedBuffer(capacity: context.packsState
            ? BF16Products.packedWords(k: context.shape.keyDim, n: min(tiling.dhv, context.shape.valueDim)) : 1)
        chunkTiles = context.packsChunkOperands
            ? PackedChunkTiles(chunk: tiling.chunk, keyDim: context.shape.keyDim,
                               width: min(tiling.dhv, context.shape.valueDim), twoTermState: context.twoTermState) : nil
    }

    /// Sets a `rows × width` tile to C₀'s tile at `offset`, or to zeros.
    static func loadInitialTile(_ context: ForwardContext<Scalar>, offset: Int, into target: UnsafeMutablePointer<Scalar>,
                                stride targetStride: Int, rows: Int, width: Int) {
        if let c0 = context.c0 {
            copyTile(from: c0 + offset, stride: context.shape.valueDim, to: target, stride: targetStride, rows: rows, width: width)
        } else {
            for r in 0..<rows { (target + r * targetStride).update(repeating: 0, count: width) }
        }
    }

    /// Copies a `rows × width` tile between buffers of different row strides.
    static func copyTile(from source: UnsafePointer<Scalar>, stride sourceStride: Int,
                         to target: UnsafeMutablePointer<Scalar>, stride targetStride: Int, rows: Int, width: Int) {
        for r in 0..<rows {
            (target + r * targetStride).update(from: source + r * sourceStride, count: width)
        }
    }
}
