import RealModule
import TFLA

/// A small, fast, seedable generator (SplitMix64), so that demos, tests and
/// benchmarks draw the same inputs on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller; the second value of each pair
    /// is kept for the next call).
    public mutating func normal() -> Double {
        if let spare {
            self.spare = nil
            return spare
        }
        // Uniforms from the top 53 bits; u1 in (0, 1] keeps log finite.
        let u1 = Double((next() >> 11) + 1) * 0x1p-53
        let u2 = Double(next() >> 11) * 0x1p-53
        let radius = (-2 * Double.log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        spare = radius * Double.sin(angle)
        return radius * Double.cos(angle)
    }

    private var spare: Double?
}

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
