import CTFLAKernels
import Dispatch
import Synchronization

/// Runs `items` independent work items on `threads` workers.
///
/// Workers take items from a shared counter, so uneven items balance out.
/// Each item's computation must depend only on the item index, never on
/// which worker runs it: that makes results bit-identical for any thread
/// count. `makeScratch` runs once per worker, so hot loops never allocate.
///
/// Workers compute with subnormal numbers flushed to zero (and restore the
/// thread's floating-point mode afterwards). Decay weights far down a long
/// chunk fall below 1e-38 in float32; as GEMM operands such subnormals cost
/// a microcode assist per instruction and made chunk size 2048 more than
/// five times slower (Docs/log/optimisation.md, "Entry 6"). Values that small cannot change
/// a result beyond rounding.
package func parallelFor<Scratch>(
    items: Int, threads: Int,
    makeScratch: @Sendable () -> Scratch,
    _ body: @Sendable (_ item: Int, _ scratch: inout Scratch) -> Void
) {
    let workers = max(1, min(threads, items))
    if workers == 1 {
        let mode = tfla_enter_flush_to_zero()
        defer { tfla_leave_flush_to_zero(mode) }
        var scratch = makeScratch()
        guard WorkTrace.shared.isRecording else {
            for item in 0..<items { body(item, &scratch) }
            return
        }
        var durations: [Double] = []
        for item in 0..<items {
            let start = WorkTrace.seconds()
            body(item, &scratch)
            durations.append(WorkTrace.seconds() - start)
        }
        WorkTrace.shared.append(durations)
        return
    }
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        let mode = tfla_enter_flush_to_zero()
        defer { tfla_leave_flush_to_zero(mode) }
        var scratch = makeScratch()
        while true {
            let item = next.add(1, ordering: .relaxed).oldValue
            if item >= items { break }
            body(item, &scratch)
        }
    }
}

/// Carries closures and pointers into the workers. Safe here because the
/// work items touch disjoint memory (see each kernel's item layout).
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
