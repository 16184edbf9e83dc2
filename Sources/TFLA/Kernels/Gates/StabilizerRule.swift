import RealModule

/// The one rule by which a stabilized state absorbs new contributions.
///
/// Every place that merges two log-scaled quantities — a token into the
/// recurrent state, a chunk into the chunk state, a segment summary into the
/// state before it — has the same shape: a carried part with log-scale x (the
/// state's stabilizer plus the log-decay it has accumulated) and a new part
/// with log-scale y. The stabilizer afterwards is their max-plus sum
/// m′ = max(x, y) for the exponential gate, and 0 for the sigmoid gate, whose
/// log-weights are all ≤ 0 (`Docs/math.md` §2); each part is then multiplied
/// by exp(x − m′) and exp(y − m′). Because max and + distribute
/// (max(a, b) + c = max(a + c, b + c)), applying the rule token by token,
/// chunk by chunk or segment by segment yields the same m in exact
/// arithmetic, which is what makes the segment-parallel scan exact
/// (`Docs/math.md` §7).
struct StabilizerRule {
    /// The stabilizer after the merge.
    let stabilizer: Double
    /// exp(x − m′): the factor of the carried part.
    let carriedScale: Double
    /// exp(y − m′): the factor of the new part.
    let newScale: Double

    /// Merges a carried part of log-scale `carried` with a new part of
    /// log-scale `new`.
    @inline(__always)
    init(gate: Gate, carried: Double, new: Double) {
        let m = gate.isStabilized ? Swift.max(carried, new) : 0
        stabilizer = m
        // Both parts empty (log-scale −∞): 0, not e^{−∞+∞}.
        carriedScale = m == -.infinity ? 0 : .exp(carried - m)
        newScale = m == -.infinity ? 0 : .exp(new - m)
    }
}
