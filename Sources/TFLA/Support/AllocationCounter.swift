import Synchronization

/// Bytes the library has allocated for tensors and kernel scratch since the
/// process started (monotonic; frees are not subtracted). Benchmarks read
/// it before and after a call to report what the call allocated.
public enum AllocationCounter {
    private static let total = Atomic<Int>(0)

    /// Total bytes allocated by the library so far.
    public static var bytesAllocated: Int { total.load(ordering: .relaxed) }

    static func record<T>(_ type: T.Type, count: Int) {
        total.add(count * MemoryLayout<T>.stride, ordering: .relaxed)
    }
}

extension UnsafeMutableBufferPointer {
    /// Allocates scratch and records it in ``AllocationCounter``.
    static func allocateCounted(capacity: Int) -> UnsafeMutableBufferPointer {
        AllocationCounter.record(Element.self, count: capacity)
        return .allocate(capacity: capacity)
    }
}

extension UnsafeMutablePointer {
    /// Allocates and records it in ``AllocationCounter``.
    static func allocateCounted(capacity: Int) -> UnsafeMutablePointer {
        AllocationCounter.record(Pointee.self, count: capacity)
        return .allocate(capacity: capacity)
    }
}
