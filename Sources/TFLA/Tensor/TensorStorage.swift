#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory behind a ``Tensor``: owned (allocated here) or borrowed
/// (a caller's buffer, never freed here).
@usableFromInline
final class TensorStorage<Scalar: TensorScalar> {
    @usableFromInline let base: UnsafeMutablePointer<Scalar>
    @usableFromInline let count: Int
    private let owned: Bool

    /// Storage whose elements the caller must write before reading.
    init(uninitializedCount count: Int) {
        base = Self.allocate(count)
        self.count = count
        owned = true
    }

    convenience init(count: Int, repeating value: Scalar) {
        self.init(uninitializedCount: count)
        base.initialize(repeating: value, count: count)
    }

    convenience init(copying scalars: [Scalar]) {
        self.init(uninitializedCount: scalars.count)
        scalars.withUnsafeBufferPointer { source in
            if let address = source.baseAddress { base.initialize(from: address, count: count) }
        }
    }

    init(wrapping buffer: UnsafeMutableBufferPointer<Scalar>) {
        // A zero-length buffer may have no address; give it a private one.
        if let address = buffer.baseAddress {
            base = address
            owned = false
        } else {
            base = Self.allocate(0)
            owned = true
        }
        count = buffer.count
    }

    deinit {
        if owned { free(base) }
    }

    @usableFromInline func copy() -> TensorStorage {
        let result = TensorStorage(uninitializedCount: count)
        result.base.initialize(from: base, count: count)
        return result
    }

    @inlinable
    func withBuffer<R, E: Error>(_ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }

    /// Large tensors (sequences of activations) are aligned to 2 MiB and
    /// marked for transparent huge pages: first touch then faults once per
    /// 2 MiB instead of once per 4 KiB, which is measurable at S·DHV sizes
    /// (Docs/log/optimisation.md, "Entry 2"). Small ones are 64-byte aligned (a cache line).
    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Scalar> {
        let bytes = max(count, 1) * MemoryLayout<Scalar>.stride
        AllocationTally.record(UInt8.self, count: bytes)
        let hugePage = 2 << 20
        let alignment = bytes >= 2 * hugePage ? hugePage : 64
        let rounded = (bytes + alignment - 1) / alignment * alignment
        guard let raw = aligned_alloc(alignment, rounded) else {
            fatalError("TFLA: out of memory allocating \(bytes) bytes")
        }
        #if canImport(Glibc)
        if alignment == hugePage { _ = madvise(raw, rounded, MADV_HUGEPAGE) }
        #endif
        return raw.bindMemory(to: Scalar.self, capacity: max(count, 1))
    }
}
