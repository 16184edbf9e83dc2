import Foundation

/// An array read from a `.npy` file, in the dtype the file holds.
public enum NPYArray: Sendable {
    /// A float16 (`<f2`) array.
    case float16(Tensor<Float16>)
    /// A float32 (`<f4`) array.
    case float32(Tensor<Float>)
    /// A float64 (`<f8`) array.
    case float64(Tensor<Double>)

    /// The array's shape.
    public var shape: [Int] {
        switch self {
        case let .float16(tensor): return tensor.shape
        case let .float32(tensor): return tensor.shape
        case let .float64(tensor): return tensor.shape
        }
    }

    /// The NumPy name of the dtype ("float16", "float32" or "float64").
    public var dtypeName: String {
        switch self {
        case .float16: return Float16.dtypeName
        case .float32: return Float.dtypeName
        case .float64: return Double.dtypeName
        }
    }

    /// The array converted (if needed) to `Scalar`.
    public func tensor<Scalar: TensorScalar>(as _: Scalar.Type = Scalar.self) -> Tensor<Scalar> {
        switch self {
        case let .float16(tensor): return tensor as? Tensor<Scalar> ?? tensor.converted()
        case let .float32(tensor): return tensor as? Tensor<Scalar> ?? tensor.converted()
        case let .float64(tensor): return tensor as? Tensor<Scalar> ?? tensor.converted()
        }
    }
}

/// Reading and writing NumPy `.npy` files: little-endian float16, float32
/// and float64, C order, any rank (format versions 1.0, 2.0 and 3.0 are read;
/// 1.0 is written, or 2.0 when the header needs it).
///
/// Anything else is refused with an ``NPYError`` that names the file and the
/// problem; files are written to a temporary name and renamed into place, so
/// a failed write never leaves a partial file behind.
public enum NPY {
    /// Reads a `.npy` file in whichever supported dtype it holds.
    public static func read(contentsOf path: String) throws(NPYError) -> NPYArray {
        let data: Data
        do {
            data = try NPYFile.read(path)
        } catch {
            throw NPYError(path: path, problem: error)
        }
        return try decode(data, path: path)
    }

    /// What a `.npy` file announces, read from its header alone: the checks
    /// of ``read(contentsOf:)`` that need no data (format, dtype, order, the
    /// file's size against the shape), with the same errors, so that a
    /// caller can size a computation before reading any data.
    package static func header(contentsOf path: String) throws(NPYError) -> NPYArrayHeader {
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
            let size: Int
            switch header.descriptor {
            case Float16.npyDescriptor: size = 2
            case Float.npyDescriptor: size = 4
            case Double.npyDescriptor: size = 8
            default: throw .unsupportedDType(header.descriptor)
            }
            var count = 1
            for dim in header.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dim)
                guard !overflow else { throw .malformedHeader("shape \(header.shape) is too large") }
                count = product
            }
            let (expected, overflow) = count.multipliedReportingOverflow(by: size)
            guard !overflow else { throw .malformedHeader("shape \(header.shape) is too large") }
            let payload = fileSize - offset
            guard payload >= expected else { throw .truncated(expectedBytes: expected, actualBytes: payload) }
            guard payload == expected else { throw .trailingBytes(expectedBytes: expected, actualBytes: payload) }
            return NPYArrayHeader(shape: header.shape, elementSize: size,
                                  dtypeName: size == 2 ? Float16.dtypeName : size == 4 ? Float.dtypeName : Double.dtypeName)
        } catch {
            throw NPYError(path: path, problem: error)
        }
    }

    /// Reads a `.npy` file that must hold `Scalar`'s dtype (no conversion).
    public static func read<Scalar: NPYScalar>(contentsOf path: String, as _: Scalar.Type) throws(NPYError) -> Tensor<Scalar> {
        let array = try read(contentsOf: path)
        guard array.dtypeName == Scalar.dtypeName else {
            throw NPYError(path: path, problem: .dtypeMismatch(expected: Scalar.dtypeName, found: array.dtypeName))
        }
        return array.tensor(as: Scalar.self)
    }

    /// Decodes the bytes of a `.npy` file.
    public static func decode(_ data: Data, path: String = "<memory>") throws(NPYError) -> NPYArray {
        let result: Result<NPYArray, NPYError.Problem> = data.withUnsafeBytes { bytes in
            Result { () throws(NPYError.Problem) -> NPYArray in
                let (header, offset) = try NPYHeader.parse(bytes)
                guard !header.fortranOrder else { throw .fortranOrder }
                var count = 1
                for dim in header.shape {
                    let (product, overflow) = count.multipliedReportingOverflow(by: dim)
                    guard !overflow else { throw .malformedHeader("shape \(header.shape) is too large") }
                    count = product
                }
                let payload = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                switch header.descriptor {
                case Float16.npyDescriptor:
                    return .float16(try tensor(from: payload, shape: header.shape, count: count))
                case Float.npyDescriptor:
                    return .float32(try tensor(from: payload, shape: header.shape, count: count))
                case Double.npyDescriptor:
                    return .float64(try tensor(from: payload, shape: header.shape, count: count))
                default:
                    throw .unsupportedDType(header.descriptor)
                }
            }
        }
        do {
            return try result.get()
        } catch {
            throw NPYError(path: path, problem: error)
        }
    }

    /// Encodes a tensor as the bytes of a `.npy` file. Types NumPy has no
    /// dtype for (``BFloat16``) are written as float32, exactly.
    public static func encode<Scalar: TensorScalar>(_ tensor: Tensor<Scalar>) -> Data {
        guard let descriptor = descriptor(of: Scalar.self) else { return encode(tensor.converted(to: Float.self)) }
        var data = Data(NPYHeader(descriptor: descriptor, fortranOrder: false, shape: tensor.shape).encoded())
        tensor.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: $0.baseAddress, count: $0.count)) }
        return data
    }

    /// Writes a tensor to `path` atomically: to a temporary file in the same
    /// directory first (`.<name>.tfla-partial-<pid>-<n>`, removed on
    /// failure), then renamed over `path`.
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

/// What the header of a `.npy` file announces (``NPY/header(contentsOf:)``).
package struct NPYArrayHeader: Sendable, Equatable {
    package var shape: [Int]
    /// Bytes per element in the file: 2, 4 or 8.
    package var elementSize: Int
    /// "float16", "float32" or "float64".
    package var dtypeName: String
    /// The element count (the header's shape is checked not to overflow).
    package var count: Int { shape.reduce(1, *) }

    package init(shape: [Int], elementSize: Int, dtypeName: String) {
        (self.shape, self.elementSize, self.dtypeName) = (shape, elementSize, dtypeName)
    }
}
