import Dispatch
import Synchronization

/// The durations of every work item of every parallel region, recorded on
/// request while the kernels run on one thread: the input of the benchmark
/// kit's scaling simulator, which replays them on P simulated workers.
package final class WorkTrace: Sendable {
    package static let shared = WorkTrace()

    private let enabled = Atomic<Bool>(false)
    private let regions = Mutex<[[Double]]>([])

    /// Whether items are being timed (checked once per parallel region).
    var isRecording: Bool { enabled.load(ordering: .relaxed) }

    /// Runs `body` and returns the item durations (seconds) of each
    /// parallel region it ran, in order. Not reentrant.
    package func recording(_ body: () throws -> Void) rethrows -> [[Double]] {
        regions.withLock { $0 = [] }
        enabled.store(true, ordering: .relaxed)
        defer { enabled.store(false, ordering: .relaxed) }
        try body()
        return regions.withLock { $0 }
    }

    func append(_ durations: [Double]) {
        regions.withLock { $0.append(durations) }
    }

    static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
