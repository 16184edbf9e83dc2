import ArgumentParser
import TFLA

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two .npy arrays element by element.",
        discussion: """
        Prints the maximum absolute and relative error, the index of the worst \
        element and the count of mismatches involving NaN or infinity. An element \
        passes when |a − b| ≤ atol + rtol·|b| (as numpy.allclose): an infinity only \
        against the same infinity, NaN never, or NaN against NaN with --equal-nan. A \
        mismatch involving NaN makes both errors nan; one involving an infinity, inf. \
        Exit status: 0 within tolerance, 1 outside, 2 on unreadable or mismatched input, \
        64 on a usage error.
        """)

    @Argument(help: "The array under test.") var actual: String
    @Argument(help: "The reference array.") var expected: String
    @Option(help: "Relative tolerance.") var rtol: Double = 1e-5
    @Option(help: "Absolute tolerance.") var atol: Double = 1e-8
    @Flag(help: "NaN in both arrays at the same index counts as equal (numpy's equal_nan).") var equalNan = false
    @Flag(name: .customLong("bf16-bits"), help: "Read uint16 and int16 arrays (<u2, <i2) as the bit patterns of bfloat16 values; without it they are refused.")
    var bfloat16Bits = false

    func run() throws {
        var failed = false
        try reportingFailures {
            guard rtol >= 0, atol >= 0, rtol.isFinite, atol.isFinite else {
                throw CommandFailure("--rtol and --atol must be finite and ≥ 0")
            }
            // Sized from the headers before any data is read: per array its
            // float64 copy and the copy of its elements compared, plus the
            // largest file and its decoded array while it is read.
            let headers = try [actual, expected].map { path in
                try ArrayDirectory.namingFlag(bfloat16Bits) { try NPY.header(contentsOf: path, bfloat16Bits: bfloat16Bits) }
            }
            guard headers[0].shape == headers[1].shape else {
                throw CommandFailure("\(actual): shape \(headers[0].shape) differs from \(expected): \(headers[1].shape)")
            }
            let largest: Int = headers.map { (header: NPYArrayHeader) -> Int in header.count * header.elementSize }.max() ?? 0
            var parts: [[Int]] = headers.map { (header: NPYArrayHeader) -> [Int] in header.shape + [2 * 8] }
            parts.append([2, largest])
            try MemoryBudget.require(parts, for: "tfla compare (both arrays in float64)")
            let a = try NPY.read(contentsOf: actual, bfloat16Bits: bfloat16Bits).tensor(as: Double.self)
            let b = try NPY.read(contentsOf: expected, bfloat16Bits: bfloat16Bits).tensor(as: Double.self)
            guard a.shape == b.shape else {
                throw CommandFailure("\(actual): shape \(a.shape) differs from \(expected): \(b.shape)")
            }
            let x = a.scalars, y = b.scalars
            var (maxAbs, maxRel, worst, violations, nonFinite) = (0.0, 0.0, 0, 0, 0)
            var worstExcess = -Double.infinity
            for index in x.indices {
                let (p, q) = (x[index], y[index])
                if p == q || (equalNan && p.isNaN && q.isNaN) { continue }
                let difference = abs(p - q)
                // Mismatches involving NaN or an infinity never pass and
                // rank above every finite excess (NaN highest).
                let excess: Double
                if !p.isFinite || !q.isFinite {
                    nonFinite += 1
                    excess = p.isNaN || q.isNaN ? .greatestFiniteMagnitude : .greatestFiniteMagnitude / 2
                    maxAbs = p.isNaN || q.isNaN || maxAbs.isNaN ? .nan : .infinity
                    maxRel = maxAbs
                } else {
                    excess = difference - (atol + rtol * abs(q))
                    if !maxAbs.isNaN && maxAbs.isFinite {
                        maxAbs = max(maxAbs, difference)
                        maxRel = max(maxRel, q == 0 ? .infinity : difference / abs(q))
                    }
                }
                if excess > 0 { violations += 1 }
                if excess > worstExcess {
                    worstExcess = excess
                    worst = index
                }
            }
            let position = Self.multiIndex(worst, shape: a.shape)
            print("max_abs_error=\(maxAbs)")
            print("max_rel_error=\(maxRel)")
            print("worst_index=\(position)")
            print("violations=\(violations) of \(x.count) (rtol=\(rtol), atol=\(atol))")
            print("nonfinite_mismatches=\(nonFinite)")
            failed = violations > 0
        }
        if failed { throw ExitCode(1) }
    }

    static func multiIndex(_ flat: Int, shape: [Int]) -> [Int] {
        var remainder = flat
        var result = [Int](repeating: 0, count: shape.count)
        for axis in shape.indices.reversed() where shape[axis] > 0 {
            result[axis] = remainder % shape[axis]
            remainder /= shape[axis]
        }
        return result
    }
}
