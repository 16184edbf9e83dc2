import ArgumentParser
import TFLA

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two .npy arrays element by element.",
        discussion: """
        Prints the maximum absolute and relative error and the index of the worst \
        element. An element passes when |a − b| ≤ atol + rtol·|b| (as numpy.allclose). \
        Exit status: 0 within tolerance, 1 outside, 2 on unreadable or mismatched input.
        """)

    @Argument(help: "The array under test.") var actual: String
    @Argument(help: "The reference array.") var expected: String
    @Option(help: "Relative tolerance.") var rtol: Double = 1e-5
    @Option(help: "Absolute tolerance.") var atol: Double = 1e-8

    func run() throws {
        var failed = false
        try reportingFailures {
            guard rtol >= 0, atol >= 0, rtol.isFinite, atol.isFinite else {
                throw CommandFailure("--rtol and --atol must be finite and ≥ 0")
            }
            let a = try NPY.read(contentsOf: actual).tensor(as: Double.self)
            let b = try NPY.read(contentsOf: expected).tensor(as: Double.self)
            guard a.shape == b.shape else {
                throw CommandFailure("\(actual): shape \(a.shape) differs from \(expected): \(b.shape)")
            }
            let x = a.scalars, y = b.scalars
            var (maxAbs, maxRel, worst, violations) = (0.0, 0.0, 0, 0)
            var worstExcess = -Double.infinity
            for index in x.indices {
                let difference = abs(x[index] - y[index])
                let excess = x[index].isNaN != y[index].isNaN ? Double.infinity
                    : (x[index] == y[index] ? -Double.infinity : difference - (atol + rtol * abs(y[index])))
                if excess > 0 || excess.isNaN { violations += 1 }
                if excess > worstExcess || (excess.isNaN && !worstExcess.isNaN) {
                    worstExcess = excess
                    worst = index
                }
                if x[index] != y[index] {
                    maxAbs = max(maxAbs, difference.isNaN ? .infinity : difference)
                    maxRel = max(maxRel, y[index] == 0 ? .infinity : difference / abs(y[index]))
                }
            }
            let position = Self.multiIndex(worst, shape: a.shape)
            print("max_abs_error=\(maxAbs)")
            print("max_rel_error=\(maxRel)")
            print("worst_index=\(position)")
            print("violations=\(violations) of \(x.count) (rtol=\(rtol), atol=\(atol))")
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
