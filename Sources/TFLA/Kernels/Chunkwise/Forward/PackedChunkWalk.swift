import CTFLAKernels
import Dispatch
import Synchronization

/// The chunk walk of the bf16 forward on AMX tiles, with each chunk's
/// operands packed once (`Docs/log/bf16-end-to-end.md`).
///
/// The product-by-product path (`MatrixProducts.swift`) converts and packs
/// the operands of every product anew: v twice per chunk (for S·V and for
/// the state update), q for Q·C and again for the scores. Here a chunk's q
/// (the A operand of Q·C and of the scores), v (the B operand of S·V and of
/// the state update) and, for bfloat16 inputs, kᵀ (the scores' B operand)
/// are packed once into tiles and shared by the chunk's products; the
/// decayed scores are packed once for S·V, the weighted keys once for the
/// state update, which also leaves the new C packed for the next chunk.
/// The packers read float32 (rounding to bfloat16) or bfloat16 storage as
/// it is: bfloat16 inputs are never widened into a float32 copy.
///
/// The arithmetic is the recipe of ``ChunkwiseOptions/Precision/bf16Products``:
/// with Float inputs, the scores and q·n stay float32 products of the
/// unrounded q and k; with bfloat16 inputs they are tile products of the
/// bfloat16 q and k (exact products, float32 sums) and a float32 q·n.
extension ProductKernel {
    /// Whether a forward with these products packs each chunk's operands
    /// once: AMX tiles, with every product of h's numerator in bf16.
    var packsChunkOperands: Bool {
        if case .bf16(.matrixUnits, let float32) = self { return float32.isDisjoint(with: [.inter, .intra, .state]) }
        return false
    }
}

extension ForwardContext {
    /// Whether this forward walks its chunks with operands packed once
    /// (always for bfloat16 operands).
    var packsChunkOperands: Bool {
        if case .bfloat16 = operands { return true }
        return products.packsChunkOperands
    }

    /// The packers' name for where q, k and v live.
    fileprivate var operandSource: Int32 {
        if case .bfloat16 = operands { return Int32(TFLA_SOURCE_BFLOAT16) }
        return Int32(TFLA_SOURCE_FLOAT32)
    }

    /// Rows of q, k or v from `row` on (`which`: 0, 1, 2), as the packers
    /// take them.
    fileprivate func operandRows(_ which: Int, from row: Int, offset: Int = 0) -> UnsafeRawPointer {
        switch operands {
        case .native(let native):
            let base = which == 0 ? native.q : which == 1 ? native.k : native.v
            let stride = which == 2 ? shape.valueDim : shape.keyDim
            return UnsafeRawPointer(base + row * stride + offset)
        case .bfloat16(let bits):
            let base = which == 0 ? bits.q : which == 1 ? bits.k : bits.v
            let stride = which == 2 ? shape.valueDim : shape.keyDim
            return UnsafeRawPointer(base + row * stride + offset)
        }
    }
}

/// One worker's packed operands and products of a chunk, sized for the
/// largest chunk and column tile.
final class PackedChunkTiles {
    /// Floats added to each row of C's tile and of h's rows: one cache line,
    /// so that a tile's 16 rows spread over 16 L1 sets.
    static let rowPadding = 16

    /// q of the chunk: op(A) of Q·C and of the scores (L × DQK).
    let queries: OwnedBuffer<UInt32>
    /// kᵀ of the chunk (bfloat16 inputs): op(B) of the scores (DQK × L).
    let keys: OwnedBuffer<UInt32>
    /// The chunk's rows of v for the item's columns: op(B) of S·V and of
    /// the state update (L × width).
    let values: OwnedBuffer<UInt32>
    /// (diag(w)K)ᵀ: op(A) of the state update (DQK × L).
    let weightedKeys: OwnedBuffer<UInt32>
    /// The decayed scores in float32 (L × L, zero above the diagonal)...
    let scores: OwnedBuffer<Float>
    /// ...and packed: op(A) of S·V.
    let scoreTiles: OwnedBuffer<UInt32>
    /// h's rows in float32 before they are written out (L × width, rows
    /// padded).
    let rows: OwnedBuffer<Float>
    /// The update weights w_t in float32.
    let weights: OwnedBuffer<Float>
    /// The low term of the packed C, C − bf16(C) rounded, beside
    /// `ForwardScratch.packedState` (nil: Q·C reads one term).
    var stateLow: UnsafeMutablePointer<UInt32>? { twoTermState ? stateLowWords.baseAddress : nil }
    private let stateLowWords: OwnedBuffer<UInt32>
    private let twoTermState: Bool
    /// Whether ``PackedWalkProfile`` was on when this worker started, and
    /// its time per part (handed over when the worker's scratch is freed).
    let profiles = PackedWalkProfile.isEnabled
    var nanoseconds = [UInt64](repeating: 0, count: PackedWalkProfile.Part.allCases.count)

    deinit { if profiles { PackedWalkProfile.add(nanoseconds) } }

    init(chunk: Int, keyDim: Int, width: Int, twoTermState: Bool) {
        func words(k: Int, n: Int) -> Int { BF16Products.packedWords(k: k, n: n) }
        queries = OwnedBuffer(capacity: words(k: keyDim, n: chunk))
        keys = OwnedBuffer(capacity: words(k: keyDim, n: chunk))
        values = OwnedBuffer(capacity: words(k: chunk, n: width))
        weightedKeys = OwnedBuffer(capacity: words(k: chunk, n: keyDim))
        scores = OwnedBuffer(capacity: chunk * chunk)
        scoreTiles = OwnedBuffer(capacity: words(k: chunk, n: chunk))
        rows = OwnedBuffer(capacity: chunk * (width + Self.rowPadding))
        weights = OwnedBuffer(capacity: chunk)
        self.twoTermState = twoTermState
        stateLowWords = OwnedBuffer(capacity: twoTermState ? words(k: keyDim, n: width) : 1)
    }
}

extension Chunkwise {
    /// ``walkChunks(_:head:chunks:tile:stabilizer:advanceAfterLast:scratch:)``
    /// with each chunk's operands packed once (Float contexts).
    static func walkPackedChunks<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, head: Int, chunks: Range<Int>, tile: StateTile<Scalar>,
        stabilizer: inout Double, advanceAfterLast: Bool, scratch: ForwardScratch<Scalar>
    ) {
        precondition(Scalar.self == Float.self && context.denominatorArguments == nil && context.sharedScores == nil,
                     "the packed chunk walk is the inference forward's, on Float")
        guard let n = tile.n, let tiles = scratch.chunkTiles else { preconditionFailure("a walk carries n and packed tiles") }
        let (column, width, dqk) = (tile.column, tile.width, context.shape.keyDim)
        let packedState = scratch.packedState.baseAddress
        // Whether packedState holds C: only after this walk's own update.
        var packed = false
        var clock = WalkClock(tiles)
        for index in chunks {
            let (token, length) = context.chunk(index, head: head)
            scratch.gates.compute(
                gate: context.gate, scale: context.scale, previousStabilizer: stabilizer,
                i: context.i + token, f: context.f + token, length: length)
            clock.lap(.gates, tiles)
            let source = context.operandSource
            tfla_amx_pack_a(source, context.operandRows(0, from: token), dqk, length, dqk, tiles.queries.baseAddress)
            tfla_amx_pack_b(source, context.operandRows(2, from: token, offset: column), context.shape.valueDim,
                            length, width, tiles.values.baseAddress)
            if !packed {
                tfla_amx_pack_b(Int32(TFLA_SOURCE_FLOAT32), UnsafeRawPointer(tile.c), tile.ldc, dqk, width, packedState)
                if let low = tiles.stateLow {
                    tfla_amx_pack_b(Int32(TFLA_SOURCE_FLOAT32_RESIDUAL), UnsafeRawPointer(tile.c), tile.ldc, dqk, width,
                                    low)
                }
            }
            clock.lap(.packOperands, tiles)
            packedChunkOutputs(context, token: token, length: length, column: column, width: width,
                               n: n, scratch: scratch, tiles: tiles, clock: &clock)
            if index + 1 < chunks.upperBound || advanceAfterLast {
                packed = index + 1 < chunks.upperBound
                // With C in two terms, the walk keeps C only in them between
                // chunks and writes its float32 rows once, at the state the
                // walk leaves behind.
                let lastUpdate = advanceAfterLast ? chunks.upperBound - 1 : chunks.upperBound - 2
                packedAdvanceState(context, token: token, length: length, tile: tile, scratch: scratch,
                                   valuesPacked: true, packState: packed, stateInTerms: tiles.stateLow != nil,
                                   writeRows: index == lastUpdate, clock: &clock)
                stabilizer = scratch.gates.nextStabilizer
            }
        }
    }

    /// h for one chunk and the item's columns, from the packed q and v and
    /// the packed C in `scratch.packedState`.
    private static func packedChunkOutputs<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, length: Int, column: Int, width: Int,
        n: UnsafePointer<Scalar>, scratch: ForwardScratch<Scalar>, tiles: PackedChunkTiles, clock: inout WalkClock
    ) {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        let gates = scratch.gates
        let rowSum: UnsafeMutablePointer<Float> = rebound(scratch.rowSum.baseAddress)
        let interDot: UnsafeMutablePointer<Float> = rebound(scratch.interDot.baseAddress)
        // h's rows are computed in `rows`, whose padded rows spread a tile
        // over 16 L1 sets (rows of h itself may lie a multiple of 1 KB
        // apart), and written out at the end in float32 or bfloat16.
        let (h, ldh) = (tiles.rows.baseAddress, width + PackedChunkTiles.rowPadding)
        // Inter-chunk term: h_t = α_t·q_tᵀC₋ and α_t·q_t·n₋.
        // With C in two terms, both in one pass: h's tiles stay in the
        // accumulators between them.
        tfla_amx_tile_product_shaped(length, width, dqk, tiles.queries.baseAddress, scratch.packedState.baseAddress,
                                     tiles.stateLow, 1, 0, h, ldh, Int32(TFLA_TILE_FULL))
        clock.lap(.interProduct, tiles)
        switch context.operands {
        case .native(let native):
            context.product(.normalizer, transposeA: false, transposeB: false, m: length, n: 1, k: dqk,
                            alpha: 1, a: native.q + token * dqk, lda: dqk, b: n, ldb: 1, beta: 0,
                            c: scratch.interDot.baseAddress, ldc: 1)
        case .bfloat16(let bits):
            tfla_bf16_rows_dot(length, dqk, bits.q + token * dqk, dqk, rebound(n), interDot)
        }
        scaleInterChunkRows(h, ldh: ldh, width: width, length: length, gates: gates, interDot: interDot, rowSum: rowSum)
        clock.lap(.normalizer, tiles)
        // Intra-chunk term: the decayed scores (zero above the diagonal),
        // packed once, times the packed v.
        let scores = tiles.scores.baseAddress
        switch context.operands {
        case .native:
            scores.update(repeating: 0, count: length * length)
            let (queryTile, kvTile) = (context.tiling.query, context.tiling.kv)
            for rowStart in stride(from: 0, to: length, by: queryTile) {
                let rows = min(queryTile, length - rowStart)
                for keyStart in stride(from: 0, to: rowStart + rows, by: kvTile) {
                    scoreTile(context, token: token, rowStart: rowStart, rows: rows, keyStart: keyStart,
                              keys: min(kvTile, length - keyStart), gates: gates, localRowTerms: false,
                              into: rebound(scores + rowStart * length + keyStart), stride: length,
                              rowSums: scratch.rowSum.baseAddress)
                }
            }
        case .bfloat16:
            tfla_amx_pack_b_transposed(context.operandSource, context.operandRows(1, from: token), dqk, length, dqk,
                                       tiles.keys.baseAddress)
            // Blocks above the diagonal are skipped; the weights zero
            // every entry there.
            tfla_amx_tile_product_shaped(length, length, dqk, tiles.queries.baseAddress, tiles.keys.baseAddress, nil,
                                         Float(context.scale), 0, scores, length, Int32(TFLA_TILE_LOWER_RESULT))
            for t in 0..<length {
                rowSum[t] += gates.applyWeights(scores + t * length, count: length, visible: t + 1, keyStart: 0,
                                                query: t, rowTerm: gates.rowTerm[t])
            }
        }
        clock.lap(.scores, tiles)
        tfla_amx_pack_a(Int32(TFLA_SOURCE_FLOAT32), UnsafeRawPointer(scores), length, length, length,
                        tiles.scoreTiles.baseAddress)
        clock.lap(.packScores, tiles)
        tfla_amx_tile_product_shaped(length, width, length, tiles.scoreTiles.baseAddress, tiles.values.baseAddress, nil,
                                     1, 1, h, ldh, Int32(TFLA_TILE_LOWER_A))
        clock.lap(.intraProduct, tiles)
        // Each row times 1/denominator (1 without normalization), checked
        // for non-finite values and stored, in one pass.
        let scale: UnsafeMutablePointer<Float> = rebound(scratch.rowScale.baseAddress)
        for t in 0..<length { scale[t] = 1 }
        if context.gate.normalizes {
            let eps = Float(context.eps)
            for t in 0..<length {
                let floor = Float(gates.denominatorFloor[t])
                let denominator = max(abs(rowSum[t] + interDot[t]), floor) + eps
                // 0 only for eps = 0 with e^{−m_t} underflowed: see `divide`.
                if denominator == 0 { divide(h + t * ldh, count: width, by: denominator) } else { scale[t] = 1 / denominator }
            }
        }
        let finite: Bool
        switch context.hRows {
        case .native(let output):
            finite = tfla_scale_rows(length, width, h, ldh, scale, rebound(output + token * dhv + column), nil, dhv)
        case .bfloat16(let output):
            finite = tfla_scale_rows(length, width, h, ldh, scale, nil, output + token * dhv + column, dhv)
        }
        if let flag = context.nonFinite, !finite { flag.raise() }
        clock.lap(.finishRows, tiles)
    }

    /// The state update C ← γC + (diag(w)K)ᵀV, n ← γn + Kᵀw over one chunk
    /// on packed operands (all rows of C for the tile's columns). With
    /// `valuesPacked`, the tiles already hold the chunk's v; with
    /// `packState`, the new C is also left packed in `scratch.packedState`.
    /// With `stateInTerms` (C in two terms), C is read from its packed
    /// terms rather than from its float32 rows, which are written only
    /// with `writeRows`.
    static func packedAdvanceState<Scalar: KernelScalar>(
        _ context: ForwardContext<Scalar>, token: Int, length: Int, tile: StateTile<Scalar>,
        scratch: ForwardScratch<Scalar>, valuesPacked: Bool, packState: Bool, stateInTerms: Bool = false,
        writeRows: Bool = true, clock: inout WalkClock
    ) {
        let (dqk, dhv) = (context.shape.keyDim, context.shape.valueDim)
        guard Scalar.self == Float.self, tile.row == 0, tile.rows == dqk, let tiles = scratch.chunkTiles else {
            preconditionFailure("a packed state update covers every row of C, in Float")
        }
        let source = context.operandSource
        if !valuesPacked {
            tfla_amx_pack_b(source, context.operandRows(2, from: token, offset: tile.column), dhv, length, tile.width,
                            tiles.values.baseAddress)
        }
        let weights = tiles.weights.baseAddress
        for t in 0..<length { weights[t] = Float(scratch.gates.updateWeight[t]) }
        let decay = Float(scratch.gates.stateDecay)
        tfla_amx_pack_weighted_transposed(source, context.operandRows(1, from: token), dqk, length, dqk, weights,
                                          decay, tile.n.map { rebound($0) }, tiles.weightedKeys.baseAddress)
        clock.lap(.packWeightedKeys, tiles)
        if stateInTerms, let low = tiles.stateLow {
            tfla_amx_packed_state_update(dqk, tile.width, length, tiles.weightedKeys.baseAddress,
                                         tiles.values.baseAddress, decay, scratch.packedState.baseAddress, low,
                                         packState, writeRows ? rebound(tile.c) : nil, tile.ldc)
            clock.lap(.stateProduct, tiles)
            return
        }
        tfla_amx_tile_product(dqk, tile.width, length, tiles.weightedKeys.baseAddress, tiles.values.baseAddress,
                              1, decay, rebound(tile.c), tile.ldc, packState ? scratch.packedState.baseAddress : nil,
                              packState ? tiles.stateLow : nil)
        clock.lap(.stateProduct, tiles)
    }
}

/// Where the packed chunk walk's time goes, summed over workers: off
/// unless a benchmark turns it on (`tfla-bench --profile`); a clock read
/// per part and chunk when on, one branch per part when off.
package enum PackedWalkProfile {
    /// The walk's parts, in the order a chunk runs them.
    package enum Part: Int, CaseIterable, Sendable {
        case gates, packOperands, interProduct, normalizer, scores, packScores, intraProduct, finishRows
        case packWeightedKeys, stateProduct
    }

    /// Seconds per part summed over workers, and each worker's total.
    package struct Totals: Sendable {
        package var seconds = [Double](repeating: 0, count: Part.allCases.count)
        package var workers: [Double] = []
    }

    private static let enabled = Atomic<Bool>(false)
    private static let collected = Mutex(Totals())

    package static var isEnabled: Bool {
        get { enabled.load(ordering: .relaxed) }
        set { enabled.store(newValue, ordering: .relaxed) }
    }

    /// Returns what was collected since the last call and starts afresh.
    package static func take() -> Totals {
        collected.withLock { totals in
            defer { totals = Totals() }
            return totals
        }
    }

    static func add(_ seconds: [UInt64]) {
        let total = seconds.reduce(0, +)
        guard total > 0 else { return }
        collected.withLock { totals in
            for (index, value) in seconds.enumerated() { totals.seconds[index] += Double(value) * 1e-9 }
            totals.workers.append(Double(total) * 1e-9)
        }
    }
}

/// One worker's clock for ``PackedWalkProfile``.
struct WalkClock {
    private var last: UInt64

    init(_ tiles: PackedChunkTiles) {
        last = tiles.profiles ? DispatchTime.now().uptimeNanoseconds : 0
    }

    /// Charges the time since the last lap to `part`.
    @inline(__always)
    mutating func lap(_ part: PackedWalkProfile.Part, _ tiles: PackedChunkTiles) {
        guard tiles.profiles else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        tiles.nanoseconds[part.rawValue] &+= now &- last
        last = now
    }
}
