import Synchronization

/// Bytes the library has allocated for tensors and kernel scratch since the
/// process started (monotonic; frees are not subtracted). Tests and
/// benchmarks read it through `AllocationCounter` (TFLATestSupport).
package enum AllocationTally {
    private static let total = Atomic<Int>(0)

    /// Total bytes allocated by the library so far.
    package static var bytesAllocated: Int { total.load(ordering: .relaxed) }

    static func record<T>(_ type: T.Type, count: Int) {
        total.add(count * MemoryLayout<T>.stride, ordering: .relaxed)
    }
}

extension UnsafeMutablePointer {
    /// Allocates and records it in ``AllocationTally``: the allocator of
    /// ``OwnedBuffer``, through which all kernel scratch is allocated.
    static func allocateCounted(capacity: Int) -> UnsafeMutablePointer {
        AllocationTally.record(Pointee.self, count: capacity)
        return .allocate(capacity: capacity)
    }
}
