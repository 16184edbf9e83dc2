import RealModule
import TFLA

/// The demos' seeded generator (SplitMix64, normals by Box–Muller): the same
/// draws as the generator of the package's tests and benchmarks, so that a
/// demo's problem (and its checksum) is the same on every machine. The
/// command line keeps its own copy so that it links no test support.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    private var spare: Double?

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (the second value of each pair is kept for
    /// the next call).
    mutating func normal() -> Double {
        if let spare {
            self.spare = nil
            return spare
        }
        let u1 = Double((next() >> 11) + 1) * 0x1p-53
        let u2 = Double(next() >> 11) * 0x1p-53
        let radius = (-2 * Double.log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        spare = radius * Double.sin(angle)
        return radius * Double.cos(angle)
    }
}

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
