/// Everything that can be wrong with the arguments of a public entry point.
///
/// Every case names the offending argument, so that a message such as
/// `k: expected shape [1, 2, 16, 8], got [1, 2, 16, 4]` points straight at
/// the mistake. Entry points validate all arguments before they write any
/// output, so a thrown error never leaves a result half-written.
public enum TFLAError: Error, Equatable, Sendable {
    /// A tensor's shape differs from the one implied by the other arguments.
    case shapeMismatch(argument: String, expected: [Int], given: [Int])
    /// A tensor has the wrong number of dimensions.
    case rankMismatch(argument: String, expectedRank: Int, given: [Int])
    /// A shape is unusable on its own (for example a zero-sized dimension).
    case invalidShape(argument: String, shape: [Int], reason: String)
    /// The number of elements does not match the product of a shape.
    case elementCountMismatch(argument: String, shape: [Int], count: Int)
    /// A scalar parameter is out of its valid range.
    case invalidParameter(name: String, value: String, requirement: String)
    /// Part of an initial state was given and part was not: the
    /// exponential gate needs c0, n0 and m0, the sigmoid gate c0 and n0.
    case incompleteInitialState(given: [String], missing: [String])
    /// A valid combination of options that this operation does not support.
    case unsupported(String)
    /// A size computed from the arguments (elements or bytes of an output,
    /// a saved state or scratch) does not fit a 64-bit integer.
    case sizeOverflow(what: String)
    /// What the call would allocate exceeds the memory available; refused
    /// before any work.
    case insufficientMemory(what: String, bytes: Int, available: Int)
    /// An array holds a value the non-finite policy refuses (NaN, or an
    /// infinity where it has no meaning; `Documentation.docc/Math.md`, "Non-finite
    /// inputs"), or a result overflowed: the argument, the first offending
    /// index and its value.
    case nonFiniteValue(argument: String, index: [Int], value: String, requirement: String)
}

extension TFLAError: CustomStringConvertible {
    /// The error in one line, naming the argument.
    public var description: String {
        switch self {
        case let .shapeMismatch(argument, expected, given):
            return "\(argument): expected shape \(expected), got \(given)"
        case let .rankMismatch(argument, expectedRank, given):
            return "\(argument): expected \(expectedRank) dimensions, got shape \(given)"
        case let .invalidShape(argument, shape, reason):
            return "\(argument): invalid shape \(shape): \(reason)"
        case let .elementCountMismatch(argument, shape, count):
            return "\(argument): \(count) elements do not fill shape \(shape)"
        case let .invalidParameter(name, value, requirement):
            return "\(name) = \(value): must be \(requirement)"
        case let .incompleteInitialState(given, missing):
            let together = (given + missing).contains("m0")
                ? "give c0, n0 and m0 together (the sigmoid gate needs only c0 and n0)"
                : "give c0 and n0 together (the sigmoid gate's state)"
            return "initial state: \(given.joined(separator: ", ")) given but \(missing.joined(separator: ", ")) missing; \(together)"
        case let .unsupported(message):
            return message
        case let .sizeOverflow(what):
            return "\(what): the sizes overflow a 64-bit integer; the problem is impossibly large"
        case let .insufficientMemory(what, bytes, available):
            return "\(what): needs \(Self.formatted(bytes)) of memory, \(Self.formatted(available)) available"
        case let .nonFiniteValue(argument, index, value, requirement):
            return "\(argument)\(index): \(value) found; \(argument) \(requirement)"
        }
    }
}

extension TFLAError {
    /// Bytes for a message: "4398046511104 bytes (4.0 TiB)".
    static func formatted(_ bytes: Int) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = -1
        while value >= 1024, unit + 1 < units.count { value /= 1024; unit += 1 }
        guard unit >= 0 else { return "\(bytes) bytes" }
        return "\(bytes) bytes (\((value * 10).rounded() / 10) \(units[unit]))"
    }
}
