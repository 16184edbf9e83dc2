import Synchronization

/// Records the phases a chunkwise call runs, for tests that check a driver
/// carries out exactly its plan. Off unless a test binds it: each phase
/// then costs one task-local read.
package final class PhaseRecorder: Sendable {
    /// The recorder of the current task (nil: nothing is recorded).
    @TaskLocal package static var current: PhaseRecorder?

    private let recorded = Mutex<[ChunkwisePlan.Phase]>([])

    package init() {}

    /// The phases run so far, in order.
    package var phases: [ChunkwisePlan.Phase] { recorded.withLock { $0 } }

    func record(_ phase: ChunkwisePlan.Phase) { recorded.withLock { $0.append(phase) } }
}

/// Runs the work items of one phase of a plan on `threads` workers
/// (`parallelFor`), recording the phase when a test asks for it.
func runPhase<Scratch>(
    _ phase: ChunkwisePlan.Phase, threads: Int,
    makeScratch: @Sendable () -> Scratch,
    _ body: @Sendable (_ item: Int, _ scratch: inout Scratch) -> Void
) {
    PhaseRecorder.current?.record(phase)
    parallelFor(items: phase.items, threads: threads, makeScratch: makeScratch, body)
}
