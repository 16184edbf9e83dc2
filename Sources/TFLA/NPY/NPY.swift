import Foundation

/// An array read from a `.npy` file, in the dtype the file holds.
public enum NPYArray: Sendable {
    /// A float16 (`<f2`) array.
    case float16(Tensor<Float16>)
    /// A bfloat16 array: a 2-byte void dtype (`<V2`, `|V2`), as `np.save`
    /// writes an `ml_dtypes.bfloat16` array, or, when the read asks for it,
    /// 16-bit integers (`<u2`, `<i2`) holding bfloat16 bit patterns.
    case bfloat16(Tensor<BFloat16>)
    /// A float32 (`<f4`) array.
    case float32(Tensor<Float>)
    /// A float64 (`<f8`) array.
    case float64(Tensor<Double>)

    /// The array's shape.
    public var shape: [Int] {
        switch self {
        case let .float16(tensor): return tensor.shape
        case let .bfloat16(tensor): return tensor.shape
        case let .float32(tensor): return tensor.shape
        case let .float64(tensor): return tensor.shape
        }
    }

    /// The NumPy name of the dtype ("float16", "bfloat16", "float32" or
    /// "float64"; "bfloat16" is ml_dtypes' name).
    public var dtypeName: String {
        switch self {
        case .float16: return Float16.dtypeName
        case .bfloat16: return BFloat16.dtypeName
        case .float32: return Float.dtypeName
        case .float64: return Double.dtypeName
        }
    }

    /// The array converted (if needed) to `Scalar`.
    public func tensor<Scalar: TensorScalar>(as _: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        switch self {
        case let .float16(tensor): return tensor as? Tensor<Scalar> ?? tensor.converted()
        case let .bfloat16(tensor): return tensor as? Tensor<Scalar> ?? tensor.converted()
        case let .float32(tensor): return tensor as? Tensor<Scalar> ?? tensor.converted()
        case let .float64(tensor): return tensor as? Tensor<Scalar> ?? tensor.converted()
        }
    }
}

/// Reading and writing NumPy `.npy` files: little-endian float16, float32
/// and float64, and bfloat16 as NumPy with `ml_dtypes` saves it; C order,
/// any rank (format versions 1.0, 2.0 and 3.0 are read; 1.0 is written, or
/// 2.0 when the header needs it).
///
/// NumPy has no bfloat16 dtype. `np.save` of an `ml_dtypes.bfloat16` array
/// writes the 2-byte void descriptor `<V2` (NumPy 1.26 and 2.x alike), and
/// `np.load` gives back a void array that `.view(ml_dtypes.bfloat16)` turns
/// into bfloat16 again. A 2-byte void array (`<V2`, or `|V2` as NumPy writes
/// plain void) is therefore read as bfloat16 — the one 2-byte type of
/// ml_dtypes — and ``write(_:to:)`` writes a ``BFloat16`` tensor with
/// `<V2`, byte for byte what `np.save` writes for the same array. Arrays
/// saved as their bits in 16-bit integers (`x.view(np.uint16)`,
/// `x.view(torch.int16).numpy()`) are ordinary integers to NumPy: their
/// descriptors `<u2` and `<i2` are read as bfloat16 only when the call
/// passes `bfloat16Bits: true`, and refused otherwise.
///
/// Anything else is refused with an ``NPYError`` that names the file and the
/// problem; files are written to a temporary name and renamed into place, so
/// a failed write never leaves a partial file behind.
public enum NPY {
    /// The descriptors read as bfloat16 always: 2-byte void.
    package static let bfloat16Descriptors: Set<String> = ["<V2", "|V2", "V2"]
    /// The descriptors read as bfloat16 bit patterns with `bfloat16Bits`:
    /// little-endian uint16 and int16.
    package static let bfloat16BitsDescriptors: Set<String> = ["<u2", "<i2"]

    /// Reads a `.npy` file in whichever supported dtype it holds.
    ///
    /// With `bfloat16Bits`, uint16 and int16 arrays (`<u2`, `<i2`) are read
    /// as the bit patterns of bfloat16 values; without it they are refused
    /// (``NPYError/Problem/unsupportedDType(_:)``).
    public static func read(contentsOf path: String, bfloat16Bits: Bool = false) throws(NPYError) -> NPYArray {
        let data: Data
        do {
            data = try NPYFile.read(path)
        } catch {
            throw NPYError(path: path, problem: error)
        }
        return try decode(data, path: path, bfloat16Bits: bfloat16Bits)
    }

    /// What a `.npy` file announces, read from its header alone: the checks
    /// of ``read(contentsOf:bfloat16Bits:)`` that need no data (format,
    /// dtype, order, the file's size against the shape), with the same
    /// errors, so that a caller can size a computation before reading any
    /// data.
    package static func header(contentsOf path: String, bfloat16Bits: Bool = false) throws(NPYError) -> NPYArrayHeader {
        do throws(NPYError.Problem) {
            // The preamble, then the header it announces (version 2 and 3
            // lengths take 4 bytes).
            var (bytes, fileSize) = try NPYFile.readPrefix(path, limit: 12)
            // As a read refuses it first: a file that cannot fit in memory.
            let available = MemoryBudget.availableBytes()
            guard fileSize <= available else {
                throw .unreadable("\(fileSize) bytes, more than the \(available) bytes of memory available")
            }
            if bytes.count >= 10, bytes.starts(with: NPYHeader.magic) {
                let length = bytes[6] == 1 ? Int(bytes[8]) | Int(bytes[9]) << 8
                    : bytes.count >= 12 ? (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) } : 0
                bytes = try NPYFile.readPrefix(path, limit: (bytes[6] == 1 ? 10 : 12) + length).bytes
            }
            let (header, offset) = try bytes.withUnsafeBytes { raw in
                Result { () throws(NPYError.Problem) in try NPYHeader.parse(raw) }
            }.get()
            guard !header.fortranOrder else { throw .fortranOrder }
            let dtype = try FileDType(header.descriptor, bfloat16Bits: bfloat16Bits)
            let count = try elementCount(header.shape)
            let (expected, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            guard !overflow else { throw .malformedHeader("shape \(header.shape) is too large") }
            let payload = fileSize - offset
            guard payload >= expected else { throw .truncated(expectedBytes: expected, actualBytes: payload) }
            guard payload == expected else { throw .trailingBytes(expectedBytes: expected, actualBytes: payload) }
            return NPYArrayHeader(shape: header.shape, elementSize: dtype.size, dtypeName: dtype.name)
        } catch {
            throw NPYError(path: path, problem: error)
        }
    }

    /// Reads a `.npy` file that must hold `Scalar`'s dtype (no conversion).
    ///
    /// `bfloat16Bits` as for ``read(contentsOf:bfloat16Bits:)``: uint16 and
    /// int16 arrays hold bfloat16 bit patterns (then only ``BFloat16``
    /// matches them).
    public static func read<Scalar: NPYScalar>(
        contentsOf path: String, as _: Scalar.Type, bfloat16Bits: Bool = false
    ) throws(NPYError) -> Tensor<Scalar> {
        let array = try read(contentsOf: path, bfloat16Bits: bfloat16Bits)
        guard array.dtypeName == Scalar.dtypeName else {
            throw NPYError(path: path, problem: .dtypeMismatch(expected: Scalar.dtypeName, found: array.dtypeName))
        }
        return array.tensor(as: Scalar.self)
    }

    /// Decodes the bytes of a `.npy` file (`bfloat16Bits` as for
    /// ``read(contentsOf:bfloat16Bits:)``).
    public static func decode(_ data: Data, path: String = "<memory>", bfloat16Bits: Bool = false) throws(NPYError) -> NPYArray {
        let result: Result<NPYArray, NPYError.Problem> = data.withUnsafeBytes { bytes in
            Result { () throws(NPYError.Problem) -> NPYArray in
                let (header, offset) = try NPYHeader.parse(bytes)
                guard !header.fortranOrder else { throw .fortranOrder }
                let dtype = try FileDType(header.descriptor, bfloat16Bits: bfloat16Bits)
                let count = try elementCount(header.shape)
                let payload = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                switch dtype {
                case .float16: return .float16(try tensor(from: payload, shape: header.shape, count: count))
                case .bfloat16: return .bfloat16(try tensor(from: payload, shape: header.shape, count: count))
                case .float32: return .float32(try tensor(from: payload, shape: header.shape, count: count))
                case .float64: return .float64(try tensor(from: payload, shape: header.shape, count: count))
                }
            }
        }
        do {
            return try result.get()
        } catch {
            throw NPYError(path: path, problem: error)
        }
    }

    /// Encodes a tensor as the bytes of a `.npy` file, in its own dtype
    /// (``BFloat16`` as `<V2`, see ``NPY``; for a float32 file of bfloat16
    /// values, exact, encode `tensor.converted(to: Float.self)`). A
    /// ``TensorScalar`` that is no ``NPYScalar`` is written as float32.
    public static func encode<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) -> Data {
        guard let descriptor = descriptor(of: Scalar.self) else { return encode(tensor.converted(to: Float.self)) }
        var data = Data(NPYHeader(descriptor: descriptor, fortranOrder: false, shape: tensor.shape).encoded())
        tensor.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        return data
    }

    /// Writes a tensor to `path` atomically, in its dtype as ``encode(_:)``
    /// encodes it: to a temporary file in the same directory first
    /// (`.<name>.tfla-partial-<pid>-<n>`, removed on failure), then renamed
    /// over `path`.
    public static func write<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>, to path: String) throws(NPYError) {
        guard let descriptor = descriptor(of: Scalar.self) else { return try write(tensor.converted(to: Float.self), to: path) }
        let header = NPYHeader(descriptor: descriptor, fortranOrder: false, shape: tensor.shape).encoded()
        let result = header.withUnsafeBytes { head in
            tensor.withUnsafeBufferPointer { body in
                Result { () throws(NPYError.Problem) in try NPYFile.writeAtomically([head, UnsafeRawBufferPointer(body)], to: path) }
            }
        }
        do {
            try result.get()
        } catch {
            throw NPYError(path: path, problem: error)
        }
    }

    /// The dtype string of `Scalar` when `.npy` files hold it natively.
    private static func descriptor<Scalar: TensorScalar>(of _: Scalar.Type) -> String? {
        (Scalar.self as? any NPYScalar.Type)?.npyDescriptor
    }

    /// The element count of a header's shape, refused when it overflows.
    private static func elementCount(_ shape: [Int]) throws(NPYError.Problem) -> Int {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { throw .malformedHeader("shape \(shape) is too large") }
            count = product
        }
        return count
    }

    private static func tensor<Scalar: TensorScalar>(
        from payload: UnsafeRawBufferPointer, shape: [Int], count: Int
    ) throws(NPYError.Problem) -> Tensor<Scalar> {
        let (expected, overflow) = count.multipliedReportingOverflow(by: MemoryLayout<Scalar>.size)
        guard !overflow else { throw .malformedHeader("shape \(shape) is too large") }
        guard payload.count >= expected else { throw .truncated(expectedBytes: expected, actualBytes: payload.count) }
        guard payload.count == expected else { throw .trailingBytes(expectedBytes: expected, actualBytes: payload.count) }
        var tensor = Tensor<Scalar>(shape: shape)
        // The host is little-endian (x86-64, arm64), like the accepted dtypes.
        tensor.withUnsafeMutableBufferPointer { target in
            if expected > 0 { UnsafeMutableRawBufferPointer(target).copyMemory(from: UnsafeRawBufferPointer(rebasing: payload[..<expected])) }
        }
        return tensor
    }
}

/// The dtypes a file may hold, from its descriptor (``NPY`` says which).
private enum FileDType {
    case float16, bfloat16, float32, float64

    init(_ descriptor: String, bfloat16Bits: Bool) throws(NPYError.Problem) {
        if descriptor == Float16.npyDescriptor {
            self = .float16
        } else if descriptor == Float.npyDescriptor {
            self = .float32
        } else if descriptor == Double.npyDescriptor {
            self = .float64
        } else if NPY.bfloat16Descriptors.contains(descriptor)
                    || (bfloat16Bits && NPY.bfloat16BitsDescriptors.contains(descriptor)) {
            self = .bfloat16
        } else {
            throw .unsupportedDType(descriptor)
        }
    }

    /// Bytes per element.
    var size: Int {
        switch self {
        case .float16, .bfloat16: return 2
        case .float32: return 4
        case .float64: return 8
        }
    }

    var name: String {
        switch self {
        case .float16: return Float16.dtypeName
        case .bfloat16: return BFloat16.dtypeName
        case .float32: return Float.dtypeName
        case .float64: return Double.dtypeName
        }
    }
}

/// What the header of a `.npy` file announces (``NPY/header(contentsOf:bfloat16Bits:)``).
package struct NPYArrayHeader: Sendable, Equatable {
    package var shape: [Int]
    /// Bytes per element in the file: 2, 4 or 8.
    package var elementSize: Int
    /// "float16", "bfloat16", "float32" or "float64".
    package var dtypeName: String
    /// The element count (the header's shape is checked not to overflow).
    package var count: Int { shape.reduce(1, *) }

    package init(shape: [Int], elementSize: Int, dtypeName: String) {
        (self.shape, self.elementSize, self.dtypeName) = (shape, elementSize, dtypeName)
    }
}
