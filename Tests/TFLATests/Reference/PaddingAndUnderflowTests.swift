import Foundation
import Testing
import TFLA
import TFLATestSupport

/// Leading padding (ĩ = −∞, f̃ = +∞: a no-op token) in the parallel form,
/// and a denominator that underflows to 0 (eps = 0, q = 0, large ĩ) in
/// every kernel.
@Suite("Padding and denominator underflow")
struct PaddingAndUnderflowTests {
    static let shape = ProblemShape(batch: 1, heads: 2, sequence: 13, keyDim: 4, valueDim: 3)

    /// Random inputs whose first `padding` tokens are no-ops.
    static func padded<S: KernelScalar>(_: S.Type, padding: Int, seed: UInt64 = 5) -> MLSTMInputs<S> {
        var x = MLSTMInputs<S>.random(shape, seed: seed)
        for (tensor, value) in [(\MLSTMInputs<S>.i, -S.infinity), (\MLSTMInputs<S>.f, S.infinity)] {
            x[keyPath: tensor].withUnsafeMutableBufferPointer { gate in
                for head in 0..<shape.batchHeads {
                    for t in 0..<min(padding, shape.sequence) { gate[head * shape.sequence + t] = value }
                }
            }
        }
        return x
    }

    static func values<S: TensorScalar>(_ tensor: Tensor<S>) -> [Double] {
        tensor.withUnsafeBufferPointer { $0.map(\.doubleValue) }
    }

    @Test(arguments: [0, 4, 13])
    func parallelForwardWithLeadingPaddingMatchesRecurrent(padding: Int) throws {
        let x = Self.padded(Double.self, padding: padding)
        let parallel = Self.values(try Reference.parallel(x, gate: .exponential, eps: 0))
        let recurrent = Self.values(try Reference.recurrent(x, gate: .exponential, eps: 0).h)
        for (index, (a, b)) in zip(parallel, recurrent).enumerated() {
            let t = (index / Self.shape.valueDim) % Self.shape.sequence
            if t < padding {
                #expect(a == 0 && b == 0, "padded row \(t): \(a), recurrent \(b)")
            } else {
                #expect(abs(a - b) <= 1e-12 * max(1, abs(b)), "h[\(index)]: parallel \(a), recurrent \(b)")
            }
        }
        // float32 too: the padded rows were NaN there as well.
        let single = Self.values(try Reference.parallel(Self.padded(Float.self, padding: padding), gate: .exponential))
        #expect(single.allSatisfy { $0.isFinite })
        #expect(single.prefix(padding * Self.shape.valueDim).allSatisfy { $0 == 0 })
    }

    @Test(arguments: [4, 13])
    func parallelGradientsWithLeadingPaddingMatchRecurrent(padding: Int) throws {
        let x = Self.padded(Double.self, padding: padding)
        let dh = MLSTMInputs<Double>.random(Self.shape, seed: 9).v
        let parallel = try Reference.parallelBackward(x, gate: .exponential, eps: 0, dh: dh, mode: .exact)
        let recurrent = try Reference.recurrentBackward(x, gate: .exponential, eps: 0, dh: dh)
        for (name, a, b) in [("dq", parallel.dq, recurrent.dq), ("dk", parallel.dk, recurrent.dk), ("dv", parallel.dv, recurrent.dv),
                             ("di", parallel.di, recurrent.di), ("df", parallel.df, recurrent.df)] {
            let (got, want) = (Self.values(a), Self.values(b))
            #expect(got.allSatisfy { $0.isFinite }, "\(name) has non-finite values")
            let scale = want.map(abs).max() ?? 0
            for (index, (g, w)) in zip(got, want).enumerated() {
                #expect(abs(g - w) <= 1e-9 * max(1, scale), "\(name)[\(index)]: parallel \(g), recurrent \(w)")
            }
        }
    }

    /// q = 0, ĩ = 200, eps = 0 in float32: e^{−m} underflows and q̂·n = 0,
    /// so the denominator is 0; the numerator is exactly 0 and h is 0.
    static func underflowing() -> MLSTMInputs<Float> {
        var x = MLSTMInputs<Float>.random(shape, seed: 11)
        x.q = Tensor(shape: shape.queryShape)
        x.i = Tensor(shape: shape.gateShape, repeating: 200)
        return x
    }

    @Test func zeroNumeratorOverUnderflowedDenominatorIsZeroInEveryKernel() throws {
        let x = Self.underflowing()
        let zeros = [Double](repeating: 0, count: Self.shape.valueShape.reduce(1, *))
        // float64 gives 0 (e^{−200} does not underflow there): the reference value.
        let widened = MLSTMInputs(q: x.q.converted(to: Double.self), k: x.k.converted(to: Double.self), v: x.v.converted(to: Double.self),
                                  i: x.i.converted(to: Double.self), f: x.f.converted(to: Double.self))
        let wide = try Reference.recurrent(widened, gate: .exponential, eps: 0).h
        #expect(Self.values(wide) == zeros)
        #expect(Self.values(try Reference.recurrent(x, gate: .exponential, eps: 0).h) == zeros)
        #expect(Self.values(try Reference.parallel(x, gate: .exponential, eps: 0)) == zeros)
        for chunk in [4, 16] {
            let h = try Chunkwise.forward(x, gate: .exponential, eps: 0, options: ChunkwiseOptions(chunkSize: chunk)).h
            #expect(Self.values(h) == zeros, "chunk size \(chunk)")
        }
        // The generation step, token by token.
        let state = try InferenceState<Float>(batch: 1, heads: 2, keyDim: 4, valueDim: 3, gate: .exponential, eps: 0)
        var reference = MLSTMState<Float>(zerosFor: ProblemShape(batch: 1, heads: 2, sequence: 1, keyDim: 4, valueDim: 3))
        for t in 0..<Self.shape.sequence {
            let token = try x.sequenceSlice(t..<t + 1)
            let (q, k) = (try token.q.reshaped([1, 2, 4]), try token.k.reshaped([1, 2, 4]))
            let v = try token.v.reshaped([1, 2, 3])
            let (i, f) = (try token.i.reshaped([1, 2, 1]), try token.f.reshaped([1, 2, 1]))
            #expect(Self.values(try state.step(q: q, k: k, v: v, i: i, f: f)) == [0, 0, 0, 0, 0, 0], "step \(t)")
            let result = try Reference.step(q: q, k: k, v: v, i: i, f: f, state: reference, gate: .exponential, eps: 0)
            #expect(Self.values(result.h) == [0, 0, 0, 0, 0, 0], "reference step \(t)")
            reference = result.state
        }
    }
}
