/// A dense, contiguous, row-major (C order) array of scalars with a shape.
///
/// `Tensor` has value semantics with copy-on-write storage. It can own its
/// memory or wrap a caller's buffer without copying
/// (``init(shape:wrapping:)``); a wrapped tensor writes through to that buffer
/// as long as it is the only copy, and copies itself first otherwise.
///
/// Shapes follow the kernels' conventions (see `Documentation.docc/Math.md`): for example
/// queries are `(B, NH, S, DQK)`.
public struct Tensor<Scalar: TensorScalar>: @unchecked Sendable {
    /// The extent of each dimension, outermost first. Empty for a scalar.
    public let shape: [Int]
    @usableFromInline var storage: TensorStorage<Scalar>

    /// The number of elements (the product of the shape; 1 for rank 0).
    public var count: Int { storage.count }
    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// A tensor of the given shape filled with `value` (zero by default).
    public init(shape: [Int], repeating value: Scalar = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        self.shape = shape
        self.storage = TensorStorage(count: Self.elementCount(shape), repeating: value)
    }

    /// A tensor of the given shape holding `scalars` in row-major order.
    /// - Throws: ``TFLAError/elementCountMismatch(argument:shape:count:)``
    ///   when `scalars.count` is not the product of `shape`.
    public init(shape: [Int], scalars: [Scalar]) throws(TFLAError) {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw .invalidShape(argument: "shape", shape: shape, reason: "dimensions must be non-negative")
        }
        guard Self.elementCount(shape) == scalars.count else {
            throw .elementCountMismatch(argument: "scalars", shape: shape, count: scalars.count)
        }
        self.shape = shape
        self.storage = TensorStorage(copying: scalars)
    }

    /// A tensor of the given shape holding `scalars` that the library sized
    /// from that shape itself: a count that does not match is a bug in the
    /// library, so it stops the program instead of throwing.
    init(shape: [Int], sizedScalars scalars: [Scalar]) {
        precondition(shape.allSatisfy { $0 >= 0 } && Self.elementCount(shape) == scalars.count,
                     "\(scalars.count) scalars for shape \(shape)")
        self.shape = shape
        self.storage = TensorStorage(copying: scalars)
    }

    /// Wraps caller-owned memory without copying.
    ///
    /// The buffer must stay valid, and must not be written by anyone else,
    /// for as long as this tensor or any copy of it exists. Writes through
    /// this tensor land in the buffer while the tensor is uniquely
    /// referenced; a shared copy is detached (copied) before it is written.
    public init(shape: [Int], wrapping buffer: UnsafeMutableBufferPointer<Scalar>) throws(TFLAError) {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw .invalidShape(argument: "shape", shape: shape, reason: "dimensions must be non-negative")
        }
        guard Self.elementCount(shape) == buffer.count else {
            throw .elementCountMismatch(argument: "buffer", shape: shape, count: buffer.count)
        }
        self.shape = shape
        self.storage = TensorStorage(wrapping: buffer)
    }

    /// A tensor whose elements are not initialized: for kernel outputs that
    /// are fully overwritten, which saves a pass over memory.
    package init(uninitializedShape shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(uninitializedCount: Self.elementCount(shape))
    }

    @usableFromInline init(shape: [Int], storage: TensorStorage<Scalar>) {
        self.shape = shape
        self.storage = storage
    }

    /// The elements in row-major order.
    public var scalars: [Scalar] {
        storage.withBuffer { Array($0) }
    }

    /// Row-major strides in elements.
    public var strides: [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in shape.indices.reversed() {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// Reads the elements in row-major order without copying.
    @inlinable
    public func withUnsafeBufferPointer<R, E: Error>(
        _ body: (UnsafeBufferPointer<Scalar>) throws(E) -> R
    ) throws(E) -> R {
        try storage.withBuffer { buffer throws(E) in try body(UnsafeBufferPointer(buffer)) }
    }

    /// Writes the elements in place (after a copy if the storage is shared).
    @inlinable
    public mutating func withUnsafeMutableBufferPointer<R, E: Error>(
        _ body: (UnsafeMutableBufferPointer<Scalar>) throws(E) -> R
    ) throws(E) -> R {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
        }
        return try storage.withBuffer(body)
    }

    /// The element at a full multi-index (one index per dimension).
    public subscript(_ indices: Int...) -> Scalar {
        get { storage.withBuffer { $0[offset(of: indices)] } }
        set {
            let index = offset(of: indices)
            withUnsafeMutableBufferPointer { $0[index] = newValue }
        }
    }

    /// The same elements viewed with another shape of equal element count.
    public func reshaped(_ newShape: [Int]) throws(TFLAError) -> Tensor {
        guard newShape.allSatisfy({ $0 >= 0 }), Self.elementCount(newShape) == count else {
            throw .elementCountMismatch(argument: "shape", shape: newShape, count: count)
        }
        return Tensor(shape: newShape, storage: storage)
    }

    /// The elements converted to another scalar type.
    public func converted<Other: TensorScalar>(to _: Other.Type = Other.self) -> Tensor<Other> {
        var result = Tensor<Other>(uninitializedShape: shape)
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in Self.convert(source, into: target) }
        }
        return result
    }

    /// `source` converted element by element into `target` (the same count):
    /// bfloat16 ↔ float32 on the bits, in loops that vectorize (the same
    /// values as the general path, which goes through Double).
    static func convert<Other: TensorScalar>(_ source: UnsafeBufferPointer<Scalar>,
                                             into target: UnsafeMutableBufferPointer<Other>) {
        guard let from = source.baseAddress, let to = target.baseAddress else { return }
        if Scalar.self == BFloat16.self, Other.self == Float.self {
            let bits = UnsafeRawPointer(from).assumingMemoryBound(to: UInt16.self)
            let out = UnsafeMutableRawPointer(to).assumingMemoryBound(to: Float.self)
            for index in source.indices { out[index] = BFloat16.widened(bits[index]) }
        } else if Scalar.self == Float.self, Other.self == BFloat16.self {
            let values = UnsafeRawPointer(from).assumingMemoryBound(to: Float.self)
            let out = UnsafeMutableRawPointer(to).assumingMemoryBound(to: UInt16.self)
            for index in source.indices { out[index] = BFloat16.roundedBits(values[index]) }
        } else {
            for index in source.indices { target[index] = Other.rounded(from: source[index].doubleValue) }
        }
    }

    private func offset(of indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "expected \(shape.count) indices, got \(indices.count)")
        var offset = 0
        for (axis, index) in indices.enumerated() {
            precondition(index >= 0 && index < shape[axis], "index \(index) out of range for axis \(axis) of shape \(shape)")
            offset = offset * shape[axis] + index
        }
        return offset
    }

    static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1, *)
    }
}

extension Tensor: Equatable {
    /// Tensors are equal when their shapes and all elements are equal.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        lhs.shape == rhs.shape && lhs.withUnsafeBufferPointer { a in
            rhs.withUnsafeBufferPointer { b in a.elementsEqual(b) }
        }
    }
}

extension Tensor: CustomStringConvertible {
    /// The element type and shape.
    public var description: String {
        "Tensor<\(Scalar.dtypeName)>(shape: \(shape))"
    }
}
