import RealModule
import TFLA

extension MLSTMInputs {
    /// Random inputs as in a trained model: q, k, v standard normal,
    /// f̃ ~ N(3, 1), ĩ ~ N(0, 1), drawn in that order.
    static func seededRealistic(_ shape: ProblemShape, seed: UInt64) -> MLSTMInputs {
        var rng = SplitMix64(seed: seed)
        func tensor(_ dims: [Int], offset: Double = 0) -> Tensor<Scalar> {
            var result = Tensor<Scalar>(shape: dims)
            result.withUnsafeMutableBufferPointer { buffer in
                for index in buffer.indices { buffer[index] = Scalar.rounded(from: offset + rng.normal()) }
            }
            return result
        }
        let q = tensor(shape.queryShape), k = tensor(shape.queryShape), v = tensor(shape.valueShape)
        let i = tensor(shape.gateShape), f = tensor(shape.gateShape, offset: 3)
        return MLSTMInputs(q: q, k: k, v: v, i: i, f: f)
    }
}
