import Testing
import TFLA

/// Importing TFLA must not hide standard-library names: this file compiles
/// only if `Clock` still means the standard library's protocol.
@Suite("Public names")
struct NameClashTests {
    static func elapsed<C: Clock>(on clock: C, _ body: () -> Void) -> C.Duration {
        let start = clock.now
        body()
        return start.duration(to: clock.now)
    }

    @Test func standardClockIsVisible() {
        let duration = Self.elapsed(on: ContinuousClock()) { _ = Stopwatch.now() }
        #expect(duration >= .zero)
        let (a, b) = (Stopwatch.now(), Stopwatch.now())
        #expect(b >= a)
    }
}
