/// Kernel scratch owned by exactly one value and freed by it: the one way the
/// kernels allocate raw memory.
///
/// Noncopyable, so an allocation has a single owner and its `deinit` frees
/// it; a type that keeps scratch (a worker's scratch, the gates of a chunk)
/// declares each buffer once as a stored `OwnedBuffer` and never frees it
/// by hand. Elements are trivial scalars and start uninitialized: the owner
/// writes before it reads. Allocations are recorded in ``AllocationTally``.
///
/// Element access through `baseAddress` and the subscript is a plain pointer
/// access (no bounds check in release builds), as the hot loops need.
struct OwnedBuffer<Element>: ~Copyable {
    /// The first element; valid while this value lives.
    let baseAddress: UnsafeMutablePointer<Element>
    /// Number of elements.
    let count: Int

    /// `capacity` uninitialized elements (one at least, so that every
    /// buffer has an address).
    init(capacity: Int) {
        precondition(capacity >= 0, "negative scratch capacity")
        count = capacity
        baseAddress = .allocateCounted(capacity: max(capacity, 1))
    }

    /// `capacity` uninitialized elements from an address that is a
    /// multiple of `alignment` bytes (a power of two): 64 for buffers that
    /// vector loops store whole cache lines into, where a store that spans
    /// two lines costs twice the memory traffic.
    init(capacity: Int, alignment: Int) {
        precondition(capacity >= 0, "negative scratch capacity")
        count = capacity
        let elements = max(capacity, 1)
        AllocationTally.record(Element.self, count: elements)
        baseAddress = UnsafeMutableRawPointer.allocate(
            byteCount: elements * MemoryLayout<Element>.stride, alignment: max(alignment, MemoryLayout<Element>.alignment)
        ).bindMemory(to: Element.self, capacity: elements)
    }

    deinit { baseAddress.deallocate() }

    subscript(index: Int) -> Element {
        @inline(__always) get {
            assert(index >= 0 && index < count, "scratch index out of range")
            return baseAddress[index]
        }
        @inline(__always) nonmutating set {
            assert(index >= 0 && index < count, "scratch index out of range")
            baseAddress[index] = newValue
        }
    }

    /// Runs `body` with the first element's address; the buffer is borrowed,
    /// hence alive, for the whole call.
    @inline(__always)
    borrowing func withPointer<R, E: Error>(_ body: (UnsafeMutablePointer<Element>) throws(E) -> R) throws(E) -> R {
        try body(baseAddress)
    }
}
