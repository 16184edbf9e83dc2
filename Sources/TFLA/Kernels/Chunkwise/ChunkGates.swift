import RealModule

/// The gate quantities of one chunk, in Double whatever the kernel's scalar.
///
/// Within a chunk the log-decays are cumulative sums that grow like L·|lf|
/// (thousands for extreme forget gates); differences of such sums lose
/// float32 precision that the outputs would inherit. In Double they cost
/// O(L) per chunk, nothing next to the O(L·(DQK+DHV)) matrix work.
///
/// With b_t = Σ_{u≤t} lf_u (in the chunk), B_j = ĩ_j − b_j and the previous
/// stabilizer m₋, the log-weight of key j for query t ≤ … is
/// logD[t,j] − m_t = A_t + B_j, where for the exponential gate
/// M_t = max(m₋, max_{j≤t} B_j), m_t = b_t + M_t and A_t = −M_t exactly
/// (so no large terms cancel), and for the sigmoid gate m ≡ 0, A_t = b_t.
/// The row maxima are thus known exactly before any tile is formed, which
/// replaces FlashAttention's running-max rescaling (see `Docs/design.md`).
struct ChunkGates {
    /// A_t: row term of the log-weights.
    let rowTerm: UnsafeMutableBufferPointer<Double>
    /// A_t as if the state before the chunk were empty (m₋ = −∞): what the
    /// scores shared by all column tiles are weighted with. The true
    /// weights are e^{A_t − local A_t} ≤ 1 times those (`Docs/math.md` §7).
    let localRowTerm: UnsafeMutableBufferPointer<Double>
    /// B_j: column term of the log-weights.
    let columnTerm: UnsafeMutableBufferPointer<Double>
    /// α_t = s·exp(b_t + m₋ − m_t): scale of the inter-chunk readout q_tᵀC₋.
    let interScale: UnsafeMutableBufferPointer<Double>
    /// exp(−m_t): the lower bound of the denominator.
    let denominatorFloor: UnsafeMutableBufferPointer<Double>
    /// exp(a_t − m_new): weight of key/value t in the state update.
    let updateWeight: UnsafeMutableBufferPointer<Double>
    /// exp(g + m₋ − m_new): decay of the previous state over the chunk.
    var stateDecay: Double = 0
    /// The stabilizer after the chunk.
    var nextStabilizer: Double = 0
    /// g = Σ_t lf_t: the chunk's total log forget gate.
    var logDecay: Double = 0

    init(capacity: Int) {
        rowTerm = .allocateCounted(capacity: capacity)
        localRowTerm = .allocateCounted(capacity: capacity)
        columnTerm = .allocateCounted(capacity: capacity)
        interScale = .allocateCounted(capacity: capacity)
        denominatorFloor = .allocateCounted(capacity: capacity)
        updateWeight = .allocateCounted(capacity: capacity)
    }

    func deallocate() {
        for buffer in [rowTerm, localRowTerm, columnTerm, interScale, denominatorFloor, updateWeight] { buffer.deallocate() }
    }

    /// Fills the buffers for tokens `i[0..<length]`, `f[0..<length]`.
    mutating func compute<Scalar: KernelScalar>(
        gate: Gate, scale: Double, previousStabilizer mPrev: Double,
        i: UnsafePointer<Scalar>, f: UnsafePointer<Scalar>, length: Int
    ) {
        var cumulative = 0.0
        var prefixMax = -Double.infinity
        for t in 0..<length {
            cumulative += logSigmoid(Double(f[t]))
            let b = cumulative
            columnTerm[t] = gate.logInputWeight(Double(i[t])) - b
            if gate.isStabilized {
                prefixMax = max(prefixMax, columnTerm[t])
                let rowMax = max(mPrev, prefixMax)
                rowTerm[t] = -rowMax
                localRowTerm[t] = -prefixMax
                interScale[t] = scale * .exp(mPrev - rowMax)
                denominatorFloor[t] = .exp(-(b + rowMax))
            } else {
                rowTerm[t] = b
                localRowTerm[t] = b
                interScale[t] = scale * .exp(b)
                denominatorFloor[t] = 1
            }
        }
        let g = cumulative
        logDecay = g
        if gate.isStabilized {
            let chunkMax = max(mPrev, prefixMax)
            nextStabilizer = g + chunkMax
            stateDecay = .exp(mPrev - chunkMax)
            for t in 0..<length { updateWeight[t] = .exp(columnTerm[t] - chunkMax) }
        } else {
            nextStabilizer = 0
            stateDecay = .exp(g)
            for t in 0..<length { updateWeight[t] = .exp(g + columnTerm[t]) }
        }
    }
}
