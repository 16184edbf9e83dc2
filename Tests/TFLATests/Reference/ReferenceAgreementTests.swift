import RealModule
import Testing
import TFLA
import TFLATestSupport

/// The three reference forms must agree with each other on random problems.
@Suite("Reference forms agree")
struct ReferenceAgreementTests {
    /// With eps = 0 the parallel and recurrent forms are the same function
    /// (the eps term is the only place their stabilizers differ).
    @Test(arguments: 0..<16, GateDistribution.allCases)
    func parallelEqualsRecurrent(seed: Int, gates: GateDistribution) throws {
        let shape = randomShape(seed: UInt64(seed), maxSequence: 37, maxKeyDim: 9, maxValueDim: 11)
        let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: UInt64(seed))
        for gate in allGates {
            let recurrent = try Reference.recurrent(x, gate: gate, eps: 0).h
            let parallel = try Reference.parallel(x, gate: gate, eps: 0)
            #expect(maxMagnitude(recurrent) > 0)
            #expect(relativeError(parallel, recurrent) < 1e-11, "\(shape) \(gate) \(gates)")
        }
    }

    /// At the default eps the forms differ only through eps·exp(m), which is
    /// tiny for realistic gates.
    @Test(arguments: 0..<8)
    func parallelNearRecurrentAtDefaultEps(seed: Int) throws {
        let shape = randomShape(seed: UInt64(seed) + 100, maxSequence: 37, maxKeyDim: 9, maxValueDim: 11)
        let x = MLSTMInputs<Double>.random(shape, gates: .realistic, seed: UInt64(seed))
        let recurrent = try Reference.recurrent(x, gate: .exponential).h
        let parallel = try Reference.parallel(x, gate: .exponential)
        #expect(relativeError(parallel, recurrent) < 1e-5)
    }

    /// S steps from a state equal one sequence call from that state, and a
    /// sequence split anywhere equals the whole (state passing is exact).
    @Test(arguments: 0..<12)
    func stepsAndSplitsEqualTheSequence(seed: Int) throws {
        let shape = randomShape(seed: UInt64(seed) + 200, maxSequence: 37, maxKeyDim: 9, maxValueDim: 11)
        let gates: GateDistribution = seed.isMultiple(of: 2) ? .realistic : .extreme
        let x = MLSTMInputs<Double>.random(shape, gates: gates, seed: UInt64(seed))
        let start = MLSTMInputs<Double>.random(
            ProblemShape(batch: shape.batch, heads: shape.heads, sequence: shape.keyDim, keyDim: shape.keyDim, valueDim: shape.valueDim),
            gates: gates, seed: UInt64(seed) + 1)
        for gate in allGates {
            // A nontrivial initial state: the state after another sequence.
            let initial = try Reference.recurrent(start, gate: gate).state
            let whole = try Reference.recurrent(x, gate: gate, initialState: initial)

            var state = initial
            var stepOutputs: [Tensor<Double>] = []
            for t in 0..<shape.sequence {
                let token = try x.sequenceSlice(t..<(t + 1))
                let out = try Reference.step(
                    q: token.q.reshaped([shape.batch, shape.heads, shape.keyDim]),
                    k: token.k.reshaped([shape.batch, shape.heads, shape.keyDim]),
                    v: token.v.reshaped([shape.batch, shape.heads, shape.valueDim]),
                    i: token.i, f: token.f, state: state, gate: gate)
                state = out.state
                stepOutputs.append(out.h)
            }
            #expect(relativeError(state.c, whole.state.c) < 1e-13)
            #expect(relativeError(state.n, whole.state.n) < 1e-13)
            #expect(relativeError(state.m, whole.state.m) < 1e-13)
            for t in 0..<shape.sequence {
                let expected = try whole.h.slicing(axis: 2, t..<(t + 1)).reshaped([shape.batch, shape.heads, shape.valueDim])
                #expect(relativeError(stepOutputs[t], expected) < 1e-13)
            }

            // Both halves need at least one token (sequences are never empty).
            guard shape.sequence >= 2 else { continue }
            let split = shape.sequence / 2
            let first = try Reference.recurrent(x.sequenceSlice(0..<split), gate: gate, initialState: initial)
            let second = try Reference.recurrent(x.sequenceSlice(split..<shape.sequence), gate: gate, initialState: first.state)
            #expect(relativeError(second.state.c, whole.state.c) < 1e-13)
            #expect(try relativeError(second.h, whole.h.slicing(axis: 2, split..<shape.sequence)) < 1e-13)
        }
    }

    /// The stabilizer-free identity of Sources/TFLA/Documentation.docc/Math.md: at moderate gates,
    /// exp weights can be used directly, with the eps term scaled by e^{m}.
    @Test func matchesTheUnstabilizedFormula() throws {
        let shape = ProblemShape(batch: 1, heads: 1, sequence: 9, keyDim: 3, valueDim: 2)
        let x = MLSTMInputs<Double>.random(shape, seed: 3)
        let h = try Reference.recurrent(x, gate: .exponential, eps: 0).h
        let q = x.q.scalars, k = x.k.scalars, v = x.v.scalars, i = x.i.scalars, f = x.f.scalars
        for t in 0..<9 {
            var numerator = [0.0, 0.0], denominator = 0.0
            for j in 0...t {
                var logWeight = i[j]
                for u in (j + 1)..<(t + 1) { logWeight += logSigmoid(f[u]) }
                let score = (0..<3).reduce(0.0) { $0 + q[t * 3 + $1] * k[j * 3 + $1] } / 3.0.squareRoot()
                let w = Double.exp(logWeight) * score
                denominator += w
                for d in 0..<2 { numerator[d] += w * v[j * 2 + d] }
            }
            // With eps = 0, any stabilizer m cancels: h = num / max(|den|, 1).
            let scaleFloor = Swift.max(abs(denominator), 1.0)
            for d in 0..<2 {
                #expect(abs(h[0, 0, t, d] - numerator[d] / scaleFloor) < 1e-12 * Swift.max(1, abs(numerator[d] / scaleFloor)))
            }
        }
    }
}
