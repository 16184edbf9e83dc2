import RealModule

/// A small, fast, seedable generator (SplitMix64) with standard normals by
/// Box–Muller, so that the demos, tests and benchmarks of this package draw
/// the same inputs on every machine. Package access: the command line's
/// demos use it without linking the test support.
package struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    private var spare: Double?

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (the second value of each pair is kept for
    /// the next call).
    package mutating func normal() -> Double {
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
}
