import Dispatch
import Synchronization

/// Runs `items` independent work items on `threads` workers.
///
/// Workers take items from a shared counter, so uneven items balance out.
/// Each item's computation must depend only on the item index, never on
/// which worker runs it: that makes results bit-identical for any thread
/// count. `makeScratch` runs once per worker, so hot loops never allocate.
func parallelFor<Scratch>(
    items: Int, threads: Int,
    makeScratch: @Sendable () -> Scratch,
    _ body: @Sendable (_ item: Int, _ scratch: inout Scratch) -> Void
) {
    let workers = max(1, min(threads, items))
    if workers == 1 {
        var scratch = makeScratch()
        for item in 0..<items { body(item, &scratch) }
        return
    }
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
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
