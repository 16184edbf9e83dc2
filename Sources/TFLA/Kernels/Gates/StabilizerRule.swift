import RealModule

/// The one rule by which a stabilized state absorbs new contributions.
///
/// Every place that merges two log-scaled quantities — a token into the
/// recurrent state, a chunk into the chunk state, a segment summary into the
/// state before it — has the same shape: a carried part with log-scale x (the
/// state's stabilizer plus the log-decay it has accumulated) and a new part
/// with log-scale y. The stabilizer afterwards is their max-plus sum
/// m′ = max(x, y) for the exponential gate, and 0 for the sigmoid gate, whose
/// log-weights are all ≤ 0 (`Documentation.docc/Math.md` §2); each part is then multiplied
/// by exp(x − m′) and exp(y − m′). Because max and + distribute
/// (max(a, b) + c = max(a + c, b + c)), applying the rule token by token,
/// chunk by chunk or segment by segment yields the same m in exact
/// arithmetic, which is what makes the segment-parallel scan exact
/// (`Documentation.docc/Math.md` §7).
///
/// At a tie the new part attains m′ (`newAttains`): the gradient through m
/// goes to the token, the rule of every backward (`Documentation.docc/Math.md` §6).
struct StabilizerRule<T: Real> {
    /// The stabilizer after the merge.
    let stabilizer: T
    /// exp(x − m′): the factor of the carried part.
    let carriedScale: T
    /// exp(y − m′): the factor of the new part.
    let newScale: T
    /// Whether the new part attains m′ (ties included); false for the
    /// sigmoid gate, whose m is no max.
    let newAttains: Bool

    /// Merges a carried part of log-scale `carried` with a new part of
    /// log-scale `new`.
    @inline(__always)
    init(gate: Gate, carried: T, new: T) {
        let m = gate.isStabilized ? Swift.max(carried, new) : 0
        stabilizer = m
        carriedScale = stabilizedWeight(carried, over: m)
        newScale = stabilizedWeight(new, over: m)
        newAttains = gate.isStabilized && new >= carried
    }

    /// One token of the recurrent form: m′ = max(lf + m, ĩ′) with lf = logσ(f̃)
    /// and ĩ′ the gate's log input weight; `carriedScale` is the forget
    /// factor e^{lf + m − m′}, `newScale` the input factor e^{ĩ′ − m′}.
    @inline(__always)
    init(gate: Gate, token f: T, _ i: T, previous m: T) {
        self.init(gate: gate, carried: logSigmoid(f) + m, new: gate.logInputWeight(i))
    }
}

extension StabilizerRule {
    /// The stabilizer of row t of the parallel form's log-weights
    /// `logWeights[0...t]` (logD[t, j] for keys j ≤ t): the keys merged in
    /// order j = 0…t by the rule, so m_t = max_j logD[t, j] for the
    /// exponential gate and 0 for the sigmoid gate, and `source` is the key
    /// that attains m_t — at a tie the later key, as in every other kernel —
    /// or −1 for the sigmoid gate.
    static func row(gate: Gate, logWeights: [T], through t: Int) -> (stabilizer: T, source: Int) {
        var (stabilizer, source) = (gate.isStabilized ? -T.infinity : 0, -1)
        for j in 0...t {
            let rule = StabilizerRule(gate: gate, carried: stabilizer, new: logWeights[j])
            if rule.newAttains { source = j }
            stabilizer = rule.stabilizer
        }
        return (stabilizer, source)
    }
}

/// e^{x − m} for a log-scale x ≤ m, and 0 when m = −∞ (then x = −∞ too:
/// nothing there, where e^{−∞+∞} would be NaN).
@inline(__always)
func stabilizedWeight<T: Real>(_ x: T, over m: T) -> T {
    m == -.infinity ? 0 : .exp(x - m)
}
