import RealModule

/// The gate quantities of one chunk, in Double whatever the kernel's scalar:
/// the one place that decides the chunkwise kernels' log-weights, stabilizers
/// and which term attains each stabilizer (`Documentation.docc/Math.md` §6).
///
/// With b_t = Σ_{u≤t} lf_u (in the chunk), B_j = ĩ_j − b_j and the previous
/// stabilizer m₋, the log-weight of key j for query t ≥ j is
/// logD[t,j] − m_t = A_t + B_j, where for the exponential gate
/// M_t = max(m₋, max_{j≤t} B_j), m_t = b_t + M_t and A_t = −M_t exactly
/// (so no large terms cancel), and for the sigmoid gate m ≡ 0, A_t = b_t.
/// The row maxima are thus known exactly before any tile is formed, which
/// replaces FlashAttention's running-max rescaling (see `Docs/design.md`).
///
/// **Frames.** A token whose log forget gate is below ``frameBreak`` (a hard
/// reset such as f̃ = −1e12) would make b_t and B_j of every later token of
/// the chunk huge, and A_t + B_j a difference of huge numbers. Such a token
/// starts a new *frame*: b and B are summed from the frame's start, and a
/// pair (t, j) in frames k ≥ k′ adds the frames' log-decay
/// D(k, k′) = Σ_{k′<ℓ≤k} δ_ℓ, a sum of non-positive terms formed directly
/// (never as a difference), so every log-weight keeps its accuracy for any
/// finite gate (`Documentation.docc/Math.md` §6, "Frames"). Chunks without such a token
/// have one frame and the arithmetic above, unchanged.
///
/// Ties: where two terms attain a stabilizer's max, the token wins over the
/// carried state and the later token over the earlier
/// (``stabilizerSource``); the gradient through m follows that choice.
final class ChunkGates {
    /// A log forget gate below this starts a new frame: e^{−64} ≈ 1.6e−28.
    /// Any threshold is exact; this one keeps in-frame sums below 64·L in
    /// magnitude and never splits realistic gates.
    static let frameBreak = -64.0

    /// A_t: row term of the log-weights (in the token's frame).
    let rowTerm: OwnedBuffer<Double>
    /// A_t as if the state before the chunk were empty (m₋ = −∞): what the
    /// scores shared by all column tiles are weighted with. The true
    /// weights are e^{A_t − local A_t} ≤ 1 times those (`Documentation.docc/Math.md` §7).
    let localRowTerm: OwnedBuffer<Double>
    /// e^{A_t − local A_t} ≤ 1: the factor of the shared scores' row t
    /// (0 where no token is visible yet, 1 for the sigmoid gate).
    let sharedScale: OwnedBuffer<Double>
    /// B_j: column term of the log-weights (in the token's frame).
    let columnTerm: OwnedBuffer<Double>
    /// α_t = s·exp(b_t + m₋ − m_t): scale of the inter-chunk readout q_tᵀC₋.
    let interScale: OwnedBuffer<Double>
    /// exp(−m_t): the lower bound of the denominator.
    let denominatorFloor: OwnedBuffer<Double>
    /// exp(a_t − m_new): weight of key/value t in the state update.
    let updateWeight: OwnedBuffer<Double>
    /// Which term attains m_t (exponential gate): −1 for the carried state
    /// m₋, else the chunk-local index of the token j whose B_j does.
    let stabilizerSource: OwnedBuffer<Int>
    /// The frame of each token.
    let frameOfToken: OwnedBuffer<Int>
    /// The first token of each frame, then the chunk's length.
    let frameStart: OwnedBuffer<Int>
    /// δ_k: the log-decay from frame k − 1's origin (the state before the
    /// chunk, for k = 0) to frame k's origin; 0 for a first frame that does
    /// not start with a reset.
    let frameEntry: OwnedBuffer<Double>
    /// Per frame: its largest B_j (own frame) and the token attaining it.
    private let frameMax: OwnedBuffer<Double>
    private let frameMaxSource: OwnedBuffer<Int>
    /// Column terms shifted into a query's frame (several frames only).
    private let shiftedColumns: OwnedBuffer<Double>
    /// The number of frames (1 unless the chunk has a reset).
    private(set) var frameCount = 1
    /// exp(g + m₋ − m_new): decay of the previous state over the chunk.
    private(set) var stateDecay: Double = 0
    /// The stabilizer after the chunk.
    private(set) var nextStabilizer: Double = 0
    /// g = Σ_t lf_t: the chunk's total log forget gate.
    private(set) var logDecay: Double = 0
    /// Which term attains the stabilizer after the chunk: −1 for m₋, else
    /// a chunk-local token index.
    var nextStabilizerSource: Int { stabilizerSource[max(length - 1, 0)] }
    private var length = 0

    init(capacity: Int) {
        let capacity = max(capacity, 1)
        rowTerm = OwnedBuffer(capacity: capacity)
        localRowTerm = OwnedBuffer(capacity: capacity)
        sharedScale = OwnedBuffer(capacity: capacity)
        columnTerm = OwnedBuffer(capacity: capacity)
        interScale = OwnedBuffer(capacity: capacity)
        denominatorFloor = OwnedBuffer(capacity: capacity)
        updateWeight = OwnedBuffer(capacity: capacity)
        stabilizerSource = OwnedBuffer(capacity: capacity)
        frameOfToken = OwnedBuffer(capacity: capacity)
        frameStart = OwnedBuffer(capacity: capacity + 1)
        frameEntry = OwnedBuffer(capacity: capacity)
        frameMax = OwnedBuffer(capacity: capacity)
        frameMaxSource = OwnedBuffer(capacity: capacity)
        shiftedColumns = OwnedBuffer(capacity: capacity)
    }


    /// Fills the buffers for tokens `i[0..<length]`, `f[0..<length]`.
    func compute<Scalar: KernelScalar>(
        gate: Gate, scale: Double, previousStabilizer mPrev: Double,
        i: UnsafePointer<Scalar>, f: UnsafePointer<Scalar>, length: Int
    ) {
        precondition(length >= 1 && length <= rowTerm.count, "chunk length outside the gates' capacity")
        self.length = length
        let stabilized = gate.isStabilized
        // `local` is b_t within the current frame; `carried` is the log-scale
        // of the state before the chunk seen from the current frame (m₋ plus
        // the frames' decay for the exponential gate, the decay alone for the
        // sigmoid gate); `inherited` is the largest B_j of the earlier frames
        // seen from the current one, `prefixMax` the largest of this frame.
        var local = 0.0
        var carried = stabilized ? mPrev : 0
        var inherited = -Double.infinity, inheritedSource = -1
        var prefixMax = -Double.infinity, prefixSource = -1
        var frame = -1
        var lastRowMax = -Double.infinity
        for t in 0..<length {
            let lf = logSigmoid(Double(f[t]))
            let reset = lf < Self.frameBreak
            if t == 0 || reset {
                let entry = reset ? local + lf : 0
                if frame >= 0 { frameMax[frame] = prefixMax; frameMaxSource[frame] = prefixSource }
                frame += 1
                frameStart[frame] = t
                frameEntry[frame] = entry
                local = reset ? 0 : lf
                // Every shift from an earlier frame is the sum D(k, k′) of
                // the entries from this frame backwards, in that order: the
                // same additions `applyWeights` and the update weights make,
                // so a weight's exponent is ≤ 0 exactly, = 0 at the max.
                carried = stabilized ? mPrev + decay(to: frame, from: -1) : decay(to: frame, from: -1)
                // From the latest earlier frame backwards, so that a strict
                // comparison lets the later token win a tie.
                (inherited, inheritedSource) = (-Double.infinity, -1)
                var shift = 0.0
                for earlier in stride(from: frame - 1, through: 0, by: -1) {
                    shift += frameEntry[earlier + 1]
                    let seen = frameMax[earlier] + shift
                    if frameMaxSource[earlier] >= 0 && (seen > inherited || inheritedSource < 0) {
                        (inherited, inheritedSource) = (seen, frameMaxSource[earlier])
                    }
                }
                (prefixMax, prefixSource) = (-Double.infinity, -1)
            } else {
                local += lf
            }
            frameOfToken[t] = frame
            let column = gate.logInputWeight(Double(i[t])) - local
            columnTerm[t] = column
            if stabilized {
                if column >= prefixMax { (prefixMax, prefixSource) = (column, t) }
                var (tokenMax, tokenSource) = (inherited, inheritedSource)
                if prefixMax >= tokenMax { (tokenMax, tokenSource) = (prefixMax, prefixSource) }
                let rowMax: Double
                if tokenMax >= carried {
                    rowMax = tokenMax
                    stabilizerSource[t] = tokenSource
                } else {
                    rowMax = carried
                    stabilizerSource[t] = -1
                }
                // m_t = −∞: nothing is visible yet (an empty state before
                // the chunk, input weights e^{−∞} so far); every weight is
                // then 0, and 0 rather than e^{−∞+∞} is what the terms get.
                rowTerm[t] = rowMax == -.infinity ? 0 : -rowMax
                localRowTerm[t] = tokenMax == -.infinity ? 0 : -tokenMax
                sharedScale[t] = stabilizedWeight(tokenMax, over: rowMax)
                interScale[t] = scale * stabilizedWeight(carried, over: rowMax)
                denominatorFloor[t] = .exp(-(local + rowMax))
                lastRowMax = rowMax
            } else {
                rowTerm[t] = local
                localRowTerm[t] = local
                sharedScale[t] = 1
                interScale[t] = scale * .exp(local + carried)
                denominatorFloor[t] = 1
                stabilizerSource[t] = -1
            }
        }
        frameCount = frame + 1
        frameStart[frameCount] = length
        logDecay = decay(to: frame, from: -1) + local
        let chunkMax = stabilized ? lastRowMax : 0
        if stabilized {
            nextStabilizer = local + chunkMax
            stateDecay = stabilizedWeight(carried, over: chunkMax)
        } else {
            nextStabilizer = 0
            stateDecay = .exp(logDecay)
        }
        // Key j's weight in the state update sees the decay D(last, frame
        // of j), accumulated from the last frame backwards.
        var offset = 0.0
        for k in stride(from: frameCount - 1, through: 0, by: -1) {
            for j in frameStart[k]..<frameStart[k + 1] {
                updateWeight[j] = !stabilized ? .exp(local + (columnTerm[j] + offset))
                    : stabilizedWeight(columnTerm[j] + offset, over: chunkMax)
            }
            offset += frameEntry[k]
        }
    }

    /// D(k, k′) = δ_k + δ_{k−1} + … + δ_{k′+1}, summed in that order
    /// (k′ = −1: the state before the chunk).
    @inline(__always)
    private func decay(to frame: Int, from earlier: Int) -> Double {
        var sum = 0.0
        var k = frame
        while k > earlier {
            sum += frameEntry[k]
            k -= 1
        }
        return sum
    }

    /// Multiplies `row[c]` (the key `keyStart + c`) by the weight
    /// exp(rowTerm + B_j + D(frame of t, frame of j)) for `c < visible`,
    /// zeroes `row[visible..<count]` and returns the row's sum; `rowTerm` is
    /// query t's row term (A_t or the local one).
    @inline(__always)
    func applyWeights<Scalar: KernelScalar>(
        _ row: UnsafeMutablePointer<Scalar>, count: Int, visible: Int, keyStart: Int,
        query t: Int, rowTerm: Double
    ) -> Scalar {
        if frameCount == 1 {
            return Scalar.applyDecay(row, count: count, visible: visible, rowTerm: rowTerm,
                                     columnTerms: columnTerm.baseAddress + keyStart)
        }
        return applyWeightsAcrossFrames(row, count: count, visible: visible, keyStart: keyStart,
                                        query: t, rowTerm: rowTerm)
    }

    /// `applyWeights` for a chunk with several frames: one pass per frame
    /// the visible keys touch, from the query's frame backwards.
    private func applyWeightsAcrossFrames<Scalar: KernelScalar>(
        _ row: UnsafeMutablePointer<Scalar>, count: Int, visible: Int, keyStart: Int,
        query t: Int, rowTerm: Double
    ) -> Scalar {
        var sum: Scalar = 0
        let end = keyStart + visible
        var frame = frameOfToken[t]
        var offset = 0.0
        while visible > 0 && frame >= 0 {
            let (low, high) = (max(frameStart[frame], keyStart), min(frameStart[frame + 1], end))
            if low < high {
                var columns = columnTerm.baseAddress + low
                if offset != 0 {
                    for j in low..<high { shiftedColumns[j] = columnTerm[j] + offset }
                    columns = UnsafeMutablePointer(shiftedColumns.baseAddress + low)
                }
                sum += Scalar.applyDecay(row + (low - keyStart), count: high - low, visible: high - low,
                                         rowTerm: rowTerm, columnTerms: columns)
            }
            if frameStart[frame] <= keyStart { break }
            offset += frameEntry[frame]
            frame -= 1
        }
        if visible < count { (row + max(visible, 0)).update(repeating: 0, count: count - max(visible, 0)) }
        return sum
    }
}
