/// A `.npy` file that cannot be read or written, with the file's path.
public struct NPYError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong.
    public enum Problem: Error, Equatable, Sendable {
        /// The file could not be opened or read.
        case unreadable(String)
        /// The file does not start with the `\x93NUMPY` magic string.
        case notNPY
        /// A format version other than 1.0, 2.0 or 3.0.
        case unsupportedVersion(major: UInt8, minor: UInt8)
        /// The header dictionary is missing or cannot be parsed.
        case malformedHeader(String)
        /// A dtype other than little-endian float16, float32, float64 or
        /// bfloat16 (2-byte void; 16-bit integers only when the read takes
        /// them as bfloat16 bits: ``NPY``).
        case unsupportedDType(String)
        /// The array is stored in Fortran (column-major) order.
        case fortranOrder
        /// The file ends before the data the header announces.
        case truncated(expectedBytes: Int, actualBytes: Int)
        /// The data holds more bytes than the header announces.
        case trailingBytes(expectedBytes: Int, actualBytes: Int)
        /// The dtype is valid but not the one the caller asked for.
        case dtypeMismatch(expected: String, found: String)
        /// The file could not be written.
        case unwritable(String)
        /// The arrays were read but do not form a valid state or summary:
        /// the error of its check (``InferenceState/load(from:gate:eps:)``,
        /// ``SegmentSummary/load(from:)``).
        case invalidState(TFLAError)
    }

    /// The file concerned ("<memory>" for in-memory data; the directory
    /// for ``Problem/invalidState(_:)``).
    public var path: String
    /// What is wrong with the file.
    public var problem: Problem

    /// An error for the file at `path`.
    public init(path: String, problem: Problem) {
        self.path = path
        self.problem = problem
    }

    /// The path and the problem in words, e.g. `in/q.npy: expected dtype float32, found float64`.
    public var description: String {
        let detail: String
        switch problem {
        case let .unreadable(reason): detail = "cannot read: \(reason)"
        case .notNPY: detail = "not a .npy file (missing \\x93NUMPY magic)"
        case let .unsupportedVersion(major, minor): detail = "unsupported .npy format version \(major).\(minor)"
        case let .malformedHeader(reason): detail = "malformed .npy header: \(reason)"
        case let .unsupportedDType(descr):
            if NPY.bfloat16BitsDescriptors.contains(descr) {
                detail = "dtype '\(descr)' (\(descr == "<u2" ? "uint16" : "int16")) is read only as the bits of bfloat16 values, when the read passes bfloat16Bits: true; otherwise save the array as float32"
                break
            }
            let hint = descr.hasPrefix(">") ? " (big-endian; convert with arr.astype(arr.dtype.newbyteorder('<')))" : ""
            detail = "unsupported dtype '\(descr)'\(hint); only little-endian float16 ('<f2'), float32 ('<f4'), float64 ('<f8') and bfloat16 ('<V2', ml_dtypes) are supported"
        case .fortranOrder: detail = "Fortran-ordered array; save it in C order (np.ascontiguousarray)"
        case let .truncated(expected, actual): detail = "truncated: header announces \(expected) data bytes, file has \(actual)"
        case let .trailingBytes(expected, actual): detail = "\(actual - expected) unexpected bytes after the \(expected) data bytes"
        case let .dtypeMismatch(expected, found): detail = "expected dtype \(expected), found \(found)"
        case let .unwritable(reason): detail = "cannot write: \(reason)"
        case let .invalidState(error): detail = "not a valid state: \(error)"
        }
        return "\(path): \(detail)"
    }
}
