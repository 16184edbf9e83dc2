/// The memory behind a ``Tensor``: owned (allocated here) or borrowed
/// (a caller's buffer, never freed here).
@usableFromInline
final class TensorStorage<Scalar: TensorScalar> {
    @usableFromInline let base: UnsafeMutablePointer<Scalar>
    @usableFromInline let count: Int
    private let owned: Bool

    init(count: Int, repeating value: Scalar) {
        base = .allocate(capacity: max(count, 1))
        base.initialize(repeating: value, count: count)
        self.count = count
        owned = true
    }

    init(copying scalars: [Scalar]) {
        let count = scalars.count
        let base = UnsafeMutablePointer<Scalar>.allocate(capacity: max(count, 1))
        scalars.withUnsafeBufferPointer { source in
            if let address = source.baseAddress { base.initialize(from: address, count: count) }
        }
        self.base = base
        self.count = count
        owned = true
    }

    init(wrapping buffer: UnsafeMutableBufferPointer<Scalar>) {
        // A zero-length buffer may have no address; give it a private one.
        if let address = buffer.baseAddress {
            base = address
            owned = false
        } else {
            base = .allocate(capacity: 1)
            owned = true
        }
        count = buffer.count
    }

    deinit {
        if owned { base.deallocate() }
    }

    @usableFromInline func copy() -> TensorStorage {
        let result = TensorStorage(count: count, repeating: 0)
        result.base.update(from: base, count: count)
        return result
    }

    @inlinable
    func withBuffer<R, E: Error>(_ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R) throws(E) -> R {
        try body(UnsafeMutableBufferPointer(start: base, count: count))
    }
}
