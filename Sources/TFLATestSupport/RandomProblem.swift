import RealModule
import TFLA

/// How gate pre-activations are drawn for synthetic problems.
public enum GateDistribution: String, Sendable, CaseIterable {
    /// As in a trained model: f̃ ~ N(3, 1), ĩ ~ N(0, 1).
    case realistic
    /// Stress values: ĩ uniform in [−30, 30], f̃ uniform in [−20, 30].
    case extreme
}

extension MLSTMInputs {
    /// Random inputs: q, k, v standard normal; gates per `gates`.
    public static func random(
        _ shape: ProblemShape, gates: GateDistribution = .realistic, seed: UInt64 = 0
    ) -> MLSTMInputs {
        var rng = SplitMix64(seed: seed)
        func tensor(_ dims: [Int], _ draw: (inout SplitMix64) -> Double) -> Tensor<Scalar> {
            var result = Tensor<Scalar>(shape: dims)
            result.withUnsafeMutableBufferPointer { buffer in
                for index in buffer.indices { buffer[index] = Scalar.rounded(from: draw(&rng)) }
            }
            return result
        }
        let q = tensor(shape.queryShape) { $0.normal() }
        let k = tensor(shape.queryShape) { $0.normal() }
        let v = tensor(shape.valueShape) { $0.normal() }
        let i: Tensor<Scalar>
        let f: Tensor<Scalar>
        switch gates {
        case .realistic:
            i = tensor(shape.gateShape) { $0.normal() }
            f = tensor(shape.gateShape) { 3 + $0.normal() }
        case .extreme:
            i = tensor(shape.gateShape) { Double.random(in: -30...30, using: &$0) }
            f = tensor(shape.gateShape) { Double.random(in: -20...30, using: &$0) }
        }
        return MLSTMInputs(q: q, k: k, v: v, i: i, f: f)
    }
}

extension MLSTMInputs {
    /// Every input converted to `Other` (rounded, or widened exactly).
    public func converted<Other: TensorScalar>(to _: Other.Type) -> MLSTMInputs<Other> {
        MLSTMInputs<Other>(q: q.converted(), k: k.converted(), v: v.converted(), i: i.converted(), f: f.converted())
    }
}
