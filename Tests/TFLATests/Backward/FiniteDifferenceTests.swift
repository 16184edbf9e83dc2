import Testing
import TFLA
import TFLATestSupport

/// The chunkwise and parallel backward passes against central finite
/// differences of their own forward functions (float64).
@Suite("Backward vs finite differences")
struct FiniteDifferenceTests {
    typealias Case = ChunkwiseBackwardTests.Case

    /// Relative error with an absolute floor at the differences' own
    /// rounding noise, ~1e-16·|L| / 1e-6 (with extreme gates some true
    /// gradients, e.g. df where σ(−f̃) ≈ 1e-4, are too small to resolve
    /// better).
    static func error(_ analytic: Tensor<Double>, _ numeric: Tensor<Double>, loss: Double) -> Double {
        let difference = zip(analytic.scalars, numeric.scalars).map { abs($0 - $1) }.max() ?? 0
        return difference / max(maxMagnitude(numeric), 1e-3 * max(1, abs(loss)))
    }

    static let options = TrainingTiling(chunkSize: 3, queryTile: 2, keyTile: 2, stateStride: 2)

    @Test(arguments: GateDistribution.allCases, [1e-6, 1e-2])
    func chunkwiseExactMode(gates: GateDistribution, eps: Double) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 7, keyDim: 3, valueDim: 4)
        for gate in allGates {
            let c = try ChunkwiseBackwardTests.makeCase(shape, gate: gate, gates: gates, seed: 60, initialState: true, finalGradients: true)
            func loss(_ c: Case) throws -> Double {
                let out = try Chunkwise.trainingForward(c.x, gate: gate, initialState: c.state, eps: eps,
                                                        stateStride: Self.options.stateStride, options: Self.options.options)
                let d = c.dFinalState!
                return dotProduct(out.h, c.dh) + dotProduct(out.state.c, d.c) + dotProduct(out.state.n, d.n) + dotProduct(out.state.m, d.m)
            }
            let g = try Chunkwise.gradients(c.x, gate: gate, initialState: c.state, eps: eps, dh: c.dh, dFinalState: c.dFinalState,
                                            stateStride: Self.options.stateStride, options: Self.options.options).gradients
            var checks: [(String, Tensor<Double>, WritableKeyPath<Case, Tensor<Double>>)] = [
                ("dq", g.dq, \.x.q), ("dk", g.dk, \.x.k), ("dv", g.dv, \.x.v), ("di", g.di, \.x.i), ("df", g.df, \.x.f),
                ("dc0", g.dInitialState.c, \.state!.c), ("dn0", g.dInitialState.n, \.state!.n),
            ]
            if gate.isStabilized { checks.append(("dm0", g.dInitialState.m, \.state!.m)) }
            let value = try loss(c)
            for (name, analytic, path) in checks {
                let numeric = try centralDifferences(c, path, loss: loss)
                if !name.hasSuffix("0") { #expect(maxMagnitude(numeric) > 0, "\(name) \(gate)") }
                #expect(Self.error(analytic, numeric, loss: value) <= 1e-6, "\(name) \(gate) \(gates) eps \(eps)")
            }
        }
    }

    @Test(arguments: GateDistribution.allCases, [1e-6, 1e-2])
    func parallelExactMode(gates: GateDistribution, eps: Double) throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 7, keyDim: 3, valueDim: 4)
        for gate in allGates {
            let c = try ChunkwiseBackwardTests.makeCase(shape, gate: gate, gates: gates, seed: 61, initialState: false, finalGradients: false)
            let g = try Reference.parallelBackward(c.x, gate: gate, eps: eps, dh: c.dh)
            for (name, analytic, path) in [("dq", g.dq, \Case.x.q), ("dk", g.dk, \.x.k), ("dv", g.dv, \.x.v),
                                           ("di", g.di, \.x.i), ("df", g.df, \.x.f)] {
                let numeric = try centralDifferences(c, path) { try dotProduct(Reference.parallel($0.x, gate: gate, eps: eps), $0.dh) }
                #expect(maxMagnitude(numeric) > 0, "\(name) \(gate)")
                #expect(relativeError(analytic, numeric) <= 1e-6, "\(name) \(gate) \(gates) eps \(eps)")
            }
        }
    }

    /// The reference-compatible mode is not the gradient of h (it ignores
    /// the normalizer's dependence on the inputs): it must differ from the
    /// exact one by far more than rounding.
    @Test func referenceModeDiffersFromExact() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 40, keyDim: 8, valueDim: 8)
        let c = try ChunkwiseBackwardTests.makeCase(shape, gate: .exponential, seed: 62, initialState: false, finalGradients: false)
        let exact = try Chunkwise.gradients(c.x, gate: .exponential, dh: c.dh, mode: .exact).gradients
        let reference = try Chunkwise.gradients(c.x, gate: .exponential, dh: c.dh, mode: .reference).gradients
        #expect(relativeError(reference.dq, exact.dq) > 1e-2)
        #expect(relativeError(reference.df, exact.df) > 1e-2)
    }
}
