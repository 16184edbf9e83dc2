// The error model of the C interface: a status per call and a message in a
// buffer of the calling thread.
import CTFLAABI
import TFLA
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure found by the C interface itself (before any library call).
struct ABIError: Error {
    let status: tfla_status
    let message: String

    static func invalid(_ message: String) -> ABIError { ABIError(status: TFLA_ERROR_INVALID_ARGUMENT, message: message) }
    static func unsupported(_ message: String) -> ABIError { ABIError(status: TFLA_ERROR_UNSUPPORTED, message: message) }
    static func tooLarge(_ what: String) -> ABIError {
        ABIError(status: TFLA_ERROR_OUT_OF_MEMORY,
                 message: "\(what): the sizes overflow a 64-bit integer; the problem is impossibly large")
    }
}

extension TFLAError {
    /// The status that stands for this error in C.
    var status: tfla_status {
        switch self {
        case .shapeMismatch, .rankMismatch, .elementCountMismatch: return TFLA_ERROR_SHAPE
        case .invalidShape, .invalidParameter, .incompleteInitialState: return TFLA_ERROR_INVALID_ARGUMENT
        case .unsupported: return TFLA_ERROR_UNSUPPORTED
        case .sizeOverflow, .insufficientMemory: return TFLA_ERROR_OUT_OF_MEMORY
        case .nonFiniteValue: return TFLA_ERROR_NON_FINITE
        }
    }
}

/// The per-thread message buffer: allocated on a thread's first call,
/// freed when the thread exits.
enum ErrorBuffer {
    static let capacity = 1024

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        guard pthread_key_create(&key, { free($0) }) == 0 else { return pthread_key_t.max }
        return key
    }()

    /// The calling thread's buffer (nil when it cannot be allocated).
    static func current() -> UnsafeMutablePointer<CChar>? {
        guard key != pthread_key_t.max else { return nil }
        if let buffer = pthread_getspecific(key) { return buffer.assumingMemoryBound(to: CChar.self) }
        guard let buffer = calloc(capacity, 1) else { return nil }
        guard pthread_setspecific(key, buffer) == 0 else {
            free(buffer)
            return nil
        }
        return buffer.assumingMemoryBound(to: CChar.self)
    }

    /// Stores `message` (truncated to the buffer, at a UTF-8 boundary).
    static func set(_ message: String) {
        guard let buffer = current() else { return }
        var bytes: [UInt8] = []
        for scalar in message.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            guard bytes.count + encoded.count < capacity else { break }
            bytes += encoded
        }
        bytes.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: source.count) }
        }
        buffer[bytes.count] = 0
    }

    static func clear() { current()?[0] = 0 }
}

/// Runs the body of an entry point: clears the thread's message, and turns
/// a thrown error into its status and message.
@inline(__always)
func entryPoint(_ body: () throws -> Void) -> tfla_status {
    ErrorBuffer.clear()
    do {
        try body()
        return TFLA_OK
    } catch let error as ABIError {
        ErrorBuffer.set(error.message)
        return error.status
    } catch let error as TFLAError {
        ErrorBuffer.set(error.description)
        return error.status
    } catch {
        ErrorBuffer.set("internal error: \(error)")
        return TFLA_ERROR_INTERNAL
    }
}

@_cdecl("tfla_last_error")
public func tfla_last_error() -> UnsafePointer<CChar> {
    if let buffer = ErrorBuffer.current() { return UnsafePointer(buffer) }
    return staticString("")
}

/// A C string that lives as long as the program.
func staticString(_ string: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(string.utf8Start).assumingMemoryBound(to: CChar.self)
}
