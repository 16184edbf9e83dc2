#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Monotonic wall-clock time, for reports and benchmarks (this package's
/// command-line tools, benchmarks and tests; not part of the public API).
///
/// Named so as not to hide the standard library's `Clock` protocol from
/// files that import TFLA.
package enum Stopwatch {
    /// Seconds since an arbitrary fixed point.
    package static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }

    /// The median of `repeats` timed runs of `body` (after one warm-up run).
    package static func median(repeats: Int, warmup: Bool = true, _ body: () throws -> Void) rethrows -> Double {
        if warmup { try body() }
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let start = now()
            try body()
            times.append(now() - start)
        }
        times.sort()
        let mid = times.count / 2
        return times.count % 2 == 1 ? times[mid] : (times[mid - 1] + times[mid]) / 2
    }
}
