import Synchronization

/// Records the phases a chunkwise call runs and how many items of each ran,
/// for tests that check a driver carries out exactly its plan. Off unless a
/// test binds it; otherwise each phase costs one task-local read.
package final class PhaseRecorder: Sendable {
    /// The recorder of the current task (nil: nothing is recorded).
    @TaskLocal package static var current: PhaseRecorder?

    private let recorded = Mutex<[(phase: ChunkwisePlan.Phase, itemsRun: Int)]>([])

    package init() {}

    /// The phases run so far, in order, each with the number of items that ran.
    package var phases: [(phase: ChunkwisePlan.Phase, itemsRun: Int)] { recorded.withLock { $0 } }

    func record(_ phase: ChunkwisePlan.Phase, itemsRun: Int) { recorded.withLock { $0.append((phase, itemsRun)) } }
}

/// Runs the work items of one phase of a plan on `threads` workers
/// (`parallelFor`), recording the phase when a test asks for it.
func runPhase<Scratch>(
    _ phase: ChunkwisePlan.Phase, threads: Int,
    makeScratch: @Sendable () -> Scratch,
    _ body: @Sendable (_ item: Int, _ scratch: inout Scratch) -> Void
) {
    guard let recorder = PhaseRecorder.current else {
        return parallelFor(items: phase.items, threads: threads, makeScratch: makeScratch, body)
    }
    let itemsRun = Atomic<Int>(0)
    parallelFor(items: phase.items, threads: threads, makeScratch: makeScratch) { item, scratch in
        itemsRun.add(1, ordering: .relaxed)
        body(item, &scratch)
    }
    recorder.record(phase, itemsRun: itemsRun.load(ordering: .relaxed))
}
