import CTFLAKernels
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A persistent team of worker threads for short parallel regions that
/// repeat thousands of times a second: the generation step.
///
/// A Dispatch region hands its items to whichever pool threads are awake,
/// so from one step to the next a tile of C lands on another core and has
/// to travel from that core's cache: on a 16-core host a 4 MB state stepped
/// no faster on 16 threads than on one (`Docs/log/many-cores.md`, "Step
/// 6"). Here worker w always runs the same share of the items, so each
/// core keeps its part of C in its own L2. Workers spin briefly for the
/// next region and then sleep; the caller's thread is worker 0.
final class WorkerTeam: @unchecked Sendable {
    /// Worker threads including the caller's.
    let size: Int

    private let generation = Atomic<Int>(0)
    private let finished = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    /// The current region's body; set before `generation` moves, read by
    /// the workers after they see it move.
    private nonisolated(unsafe) var body: ((Int) -> Void)?
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Held by a running region: a second caller falls back to Dispatch.
    private let busy = Mutex<Bool>(false)

    /// Spins before a worker sleeps: about 50 µs, longer than a step's gap
    /// in a decode loop, shorter than anything a user would notice as load.
    private static let spinLimit = 20_000

    private init(size: Int) {
        self.size = size
        pthread_mutex_init(lock, nil)
        pthread_cond_init(wake, nil)
        for worker in 1..<size {
            let context = Unmanaged.passRetained(WorkerStart(team: self, index: worker)).toOpaque()
            var thread = pthread_t()
            pthread_create(&thread, nil, { raw in
                let start = Unmanaged<WorkerStart>.fromOpaque(raw!).takeRetainedValue()
                start.team.workerLoop(start.index)
                return nil
            }, context)
            pthread_detach(thread)
        }
    }

    private final class WorkerStart {
        let team: WorkerTeam
        let index: Int
        init(team: WorkerTeam, index: Int) { (self.team, self.index) = (team, index) }
    }

    private static let teams = Mutex<[Int: WorkerTeam]>([:])

    /// The process's team of `size` workers (created on first use; its
    /// threads live as long as the process and sleep when idle).
    static func shared(size: Int) -> WorkerTeam {
        teams.withLock { teams in
            if let team = teams[size] { return team }
            let team = WorkerTeam(size: size)
            teams[size] = team
            return team
        }
    }

    /// Runs `body(w)` for every worker w in 0..<size, w = 0 on the calling
    /// thread, and returns when all are done. Returns false without running
    /// anything when another region is using the team.
    func run(_ body: (Int) -> Void) -> Bool {
        guard busy.withLock({ running in
            if running { return false }
            running = true
            return true
        }) else { return false }
        defer { busy.withLock { $0 = false } }
        withoutActuallyEscaping(body) { body in
            self.body = body
            finished.store(0, ordering: .relaxed)
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(lock)
                pthread_cond_broadcast(wake)
                pthread_mutex_unlock(lock)
            }
            let mode = tfla_enter_flush_to_zero()
            body(0)
            tfla_leave_flush_to_zero(mode)
            while finished.load(ordering: .acquiring) < size - 1 {}
            self.body = nil
        }
        return true
    }

    private func workerLoop(_ index: Int) {
        _ = tfla_enter_flush_to_zero()  // the team's own threads keep FTZ/DAZ
        // The generation at the team's creation, not at this thread's start:
        // a region may already have begun by the time the thread runs.
        var seen = 0
        while true {
            var spins = 0
            var current = generation.load(ordering: .acquiring)
            while current == seen {
                spins += 1
                if spins >= Self.spinLimit {
                    pthread_mutex_lock(lock)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, lock) }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(lock)
                    spins = 0
                }
                current = generation.load(ordering: .acquiring)
            }
            seen = current
            body?(index)
            finished.add(1, ordering: .releasing)
        }
    }
}

/// Runs `items` items on `threads` workers with a fixed share per worker
/// (worker w takes a contiguous block), through the process's worker team;
/// falls back to `parallelFor` when the team is in use by another caller.
/// Each item's computation must depend only on the item index.
func parallelForStatic(items: Int, threads: Int, _ body: @Sendable (_ item: Int) -> Void) {
    let workers = max(1, min(threads, items))
    if workers == 1 {
        parallelFor(items: items, threads: 1, makeScratch: { () }) { item, _ in body(item) }
        return
    }
    let ran = WorkerTeam.shared(size: workers).run { worker in
        for item in worker * items / workers..<(worker + 1) * items / workers { body(item) }
    }
    if !ran {
        parallelFor(items: items, threads: workers, makeScratch: { () }) { item, _ in body(item) }
    }
}
