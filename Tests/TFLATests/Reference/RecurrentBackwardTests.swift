import Testing
import TFLA
import TFLATestSupport

/// The exact recurrent backward against central finite differences (float64).
@Suite("Recurrent backward")
struct RecurrentBackwardTests {
    struct Problem {
        var x: MLSTMInputs<Double>
        var state: MLSTMState<Double>
        var dh: Tensor<Double>
        var dFinalState: MLSTMState<Double>
    }

    static func problem(_ gates: GateDistribution, seed: UInt64, gate: Gate) throws -> Problem {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 6, keyDim: 3, valueDim: 4)
        let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: seed)
        let warm = MLSTMInputs<Double>.random(
            ProblemShape(batch: 1, heads: 2, sequence: 3, keyDim: 3, valueDim: 4), gates: gates, seed: seed + 1)
        let state = try Reference.recurrent(warm, gate: gate).state
        let weights = MLSTMInputs<Double>.random(shape, seed: seed + 2)
        let w = MLSTMInputs<Double>.random(ProblemShape(batch: 1, heads: 2, sequence: 4, keyDim: 3, valueDim: 4), seed: seed + 3)
        let dFinalState = MLSTMState(c: try w.v.reshaped([1, 2, 4, 4]).slicing(axis: 2, 0..<3),
                                n: try w.k.reshaped([1, 2, 4, 3]).slicing(axis: 2, 0..<1).reshaped([1, 2, 3]),
                                m: gate.isStabilized ? try w.i.slicing(axis: 2, 0..<1) : Tensor(shape: [1, 2, 1]))
        return Problem(x: x, state: state, dh: weights.v, dFinalState: dFinalState)
    }

    /// L = Σ dh⊙h + Σ dc⊙c + Σ dn⊙n + Σ dm⊙m.
    static func loss(_ p: Problem, gate: Gate, eps: Double) throws -> Double {
        let out = try Reference.recurrent(p.x, gate: gate, initialState: p.state, eps: eps)
        return dotProduct(out.h, p.dh) + dotProduct(out.state.c, p.dFinalState.c) + dotProduct(out.state.n, p.dFinalState.n)
            + dotProduct(out.state.m, p.dFinalState.m)
    }

    @Test(arguments: GateDistribution.allCases, [1e-6, 1e-2])
    func matchesFiniteDifferences(gates: GateDistribution, eps: Double) throws {
        for gate in allGates {
            let p = try Self.problem(gates, seed: 40, gate: gate)
            let g = try Reference.recurrentBackward(p.x, gate: gate, initialState: p.state, eps: eps, dh: p.dh, dFinalState: p.dFinalState)
            let checks: [(String, Tensor<Double>, WritableKeyPath<Problem, Tensor<Double>>)] = [
                ("dq", g.dq, \.x.q), ("dk", g.dk, \.x.k), ("dv", g.dv, \.x.v), ("di", g.di, \.x.i), ("df", g.df, \.x.f),
                ("dc0", g.dInitialState.c, \.state.c), ("dn0", g.dInitialState.n, \.state.n),
            ] + (gate.isStabilized ? [("dm0", g.dInitialState.m, \.state.m)] : [])
            for (name, analytic, path) in checks {
                let numeric = try centralDifferences(p, path) { try Self.loss($0, gate: gate, eps: eps) }
                // The initial state can be forgotten entirely with extreme
                // gates (its gradient is then exactly zero, legitimately);
                // the inputs always matter.
                if !name.hasSuffix("0") { #expect(maxMagnitude(numeric) > 0, "\(name) \(gate)") }
                #expect(relativeError(analytic, numeric) <= 1e-6, "\(name) \(gate) \(gates) eps \(eps)")
            }
        }
    }
}
