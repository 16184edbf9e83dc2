import TFLA
import TFLATestSupport

/// The gate variants every kernel test runs through.
let allGates: [Gate] = [.exponential, .sigmoid(normalize: true), .sigmoid(normalize: false)]

/// A random problem shape per seed, with B ≤ 2, NH ≤ 3 and the other sizes
/// up to the given bounds (small enough for the quadratic reference form).
func randomShape(seed: UInt64, maxSequence: Int, maxKeyDim: Int, maxValueDim: Int) -> ProblemShape {
    var rng = SplitMix64(seed: seed &* 7919 &+ UInt64(maxSequence))
    return ProblemShape(
        batch: Int.random(in: 1...2, using: &rng), heads: Int.random(in: 1...3, using: &rng),
        sequence: Int.random(in: 1...maxSequence, using: &rng), keyDim: Int.random(in: 1...maxKeyDim, using: &rng),
        valueDim: Int.random(in: 1...maxValueDim, using: &rng))
}

extension MLSTMInputs {
    /// The same inputs in another scalar type.
    func converted<Other: KernelScalar>(to _: Other.Type = Other.self) -> MLSTMInputs<Other> {
        MLSTMInputs<Other>(q: q.converted(), k: k.converted(), v: v.converted(), i: i.converted(), f: f.converted())
    }
}
