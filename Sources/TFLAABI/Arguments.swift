// Checks of the C arguments that come before any library call: struct
// sizes, enum values, sizes and their products, pointers and overlaps. What
// passes here cannot make the library trap; the library then checks shapes
// and values itself (TFLAError).
import CTFLAABI
import TFLA

/// Reads a struct that carries its size in its first field: the full
/// struct; an older (smaller) one ending at a field boundary, later fields
/// at `defaults`; a newer (larger) one whose extra bytes are all zero.
func readSized<T>(_ pointer: UnsafePointer<T>?, _ name: String, defaults: T, fieldEnds: [Int]) throws -> T {
    guard let pointer else { throw ABIError.invalid("\(name) is NULL") }
    let raw = UnsafeRawPointer(pointer)
    let given = raw.loadUnaligned(as: Int.self)
    let full = MemoryLayout<T>.size
    if given == full { return pointer.pointee }
    if given > full {
        guard given <= 4096 else {
            throw ABIError.invalid("\(name).struct_size = \(given): larger than any version of the struct (\(full) bytes here); set it with \(name)_init")
        }
        for offset in full..<given where raw.load(fromByteOffset: offset, as: UInt8.self) != 0 {
            throw ABIError.unsupported("\(name): fields beyond the \(full) bytes this library knows are set (byte \(offset) is nonzero); a newer library is needed")
        }
        return pointer.pointee
    }
    guard given >= MemoryLayout<Int>.size, fieldEnds.contains(given) else {
        throw ABIError.invalid("\(name).struct_size = \(given): not the size of any version of the struct (\(full) bytes here); set it with \(name)_init")
    }
    var value = defaults
    withUnsafeMutableBytes(of: &value) { $0.baseAddress?.copyMemory(from: raw, byteCount: given) }
    return value
}

/// Where a field of `T` ends, in bytes from the start.
func fieldEnd<T, V>(_ path: KeyPath<T, V>) -> Int {
    (MemoryLayout<T>.offset(of: path) ?? MemoryLayout<T>.size) + MemoryLayout<V>.size
}

/// The product of `factors`, or an out-of-memory error naming `what`.
func checkedProduct(_ factors: [Int], _ what: String) throws -> Int {
    var result = 1
    for factor in factors {
        let (next, overflow) = result.multipliedReportingOverflow(by: factor)
        if overflow { throw ABIError.tooLarge(what) }
        result = next
    }
    return result
}

// MARK: - Enums

func decodeDType(_ value: tfla_dtype, _ name: String = "dtype") throws -> tfla_dtype {
    guard [TFLA_FLOAT32, TFLA_FLOAT64, TFLA_BFLOAT16].contains(value) else {
        throw ABIError.invalid("\(name) = \(value.rawValue): not a tfla_dtype (TFLA_FLOAT32, TFLA_FLOAT64, TFLA_BFLOAT16)")
    }
    return value
}

func decodeGate(_ value: tfla_gate) throws -> Gate {
    switch value {
    case TFLA_GATE_EXPONENTIAL: return .exponential
    case TFLA_GATE_SIGMOID: return .sigmoid(normalize: true)
    case TFLA_GATE_SIGMOID_UNNORMALIZED: return .sigmoid(normalize: false)
    default:
        throw ABIError.invalid("gate = \(value.rawValue): not a tfla_gate (TFLA_GATE_EXPONENTIAL, TFLA_GATE_SIGMOID, TFLA_GATE_SIGMOID_UNNORMALIZED)")
    }
}

func decodeMode(_ value: tfla_gradient_mode) throws -> GradientMode {
    switch value {
    case TFLA_GRADIENT_EXACT: return .exact
    case TFLA_GRADIENT_REFERENCE: return .reference
    default: throw ABIError.invalid("mode = \(value.rawValue): not a tfla_gradient_mode (TFLA_GRADIENT_EXACT, TFLA_GRADIENT_REFERENCE)")
    }
}

extension tfla_dtype {
    /// Bytes per element of q, k, v, i, f and h.
    var elementSize: Int { self == TFLA_FLOAT64 ? 8 : self == TFLA_BFLOAT16 ? 2 : 4 }
    /// Bytes per element of the state: float64 for float64, else float32.
    var stateSize: Int { self == TFLA_FLOAT64 ? 8 : 4 }
    var name: String { self == TFLA_FLOAT64 ? "float64" : self == TFLA_BFLOAT16 ? "bfloat16" : "float32" }
}

// MARK: - Sizes

/// The element counts of a problem's arrays, all checked to fit (in bytes
/// at 8 per element) a 64-bit integer.
struct Sizes {
    let shape: ProblemShape
    let query, value, gate, memory, normalizer, heads: Int

    /// - Parameter sequence: false for the step and compose (one token, or
    ///   none: `shape.sequence` is ignored).
    init(_ given: tfla_shape, sequence: Bool = true) throws {
        let named: [(String, Int64)] = [("batch", given.batch), ("heads", given.heads),
                                        ("sequence", sequence ? given.sequence : 1),
                                        ("key_dim", given.key_dim), ("value_dim", given.value_dim)]
        for (name, value) in named where value < 1 {
            throw ABIError.invalid("shape.\(name) = \(value): must be at least 1")
        }
        let (b, nh, s, dqk, dhv) = (Int(given.batch), Int(given.heads), sequence ? Int(given.sequence) : 1,
                                    Int(given.key_dim), Int(given.value_dim))
        shape = ProblemShape(batch: b, heads: nh, sequence: s, keyDim: dqk, valueDim: dhv)
        query = try checkedProduct([b, nh, s, dqk], "q, k (B·NH·S·DQK)")
        value = try checkedProduct([b, nh, s, dhv], "v, h (B·NH·S·DHV)")
        gate = try checkedProduct([b, nh, s], "i, f (B·NH·S)")
        memory = try checkedProduct([b, nh, dqk, dhv], "the state C (B·NH·DQK·DHV)")
        normalizer = try checkedProduct([b, nh, dqk], "the state n (B·NH·DQK)")
        heads = try checkedProduct([b, nh], "B·NH")
        for (what, count) in [("q, k", query), ("v, h", value), ("C", memory)] {
            _ = try checkedProduct([count, 8], "\(what) in bytes")
        }
    }
}

// MARK: - Pointers

/// A buffer's bytes, for the overlap checks.
struct Region {
    let name: String
    let start: UInt
    let end: UInt

    /// `pointer` holding `count` elements of `size` bytes, aligned for them.
    init(_ pointer: UnsafeRawPointer, _ name: String, count: Int, size: Int) throws {
        let bytes = try checkedProduct([count, size], name)
        let start = UInt(bitPattern: pointer)
        guard start % UInt(size) == 0 else {
            throw ABIError.invalid("\(name) is not aligned to \(size) bytes (address 0x\(String(start, radix: 16)))")
        }
        let (end, overflow) = start.addingReportingOverflow(UInt(bytes))
        guard !overflow else { throw ABIError.invalid("\(name): \(bytes) bytes from 0x\(String(start, radix: 16)) run past the address space") }
        (self.name, self.start, self.end) = (name, start, end)
    }

    func overlaps(_ other: Region) -> Bool { start < other.end && other.start < end }
}

/// A required pointer, or an error naming it.
func required<P>(_ pointer: P?, _ name: String) throws -> P {
    guard let pointer else { throw ABIError.invalid("\(name) is NULL") }
    return pointer
}

/// Refuses outputs that overlap each other or an input.
func requireDisjoint(outputs: [Region], inputs: [Region]) throws {
    for (index, output) in outputs.enumerated() {
        for other in outputs[(index + 1)...] where output.overlaps(other) {
            throw ABIError.invalid("outputs \(output.name) and \(other.name) overlap")
        }
        for input in inputs where output.overlaps(input) {
            throw ABIError.invalid("output \(output.name) overlaps input \(input.name)")
        }
    }
}

/// A tensor over caller memory (no copy). The library reads inputs only.
func wrap<T: TensorScalar>(_ pointer: UnsafeRawPointer, _ shape: [Int], as _: T.Type = T.self) throws -> Tensor<T> {
    let count = shape.reduce(1, *)
    let base = UnsafeMutableRawPointer(mutating: pointer).assumingMemoryBound(to: T.self)
    return try Tensor(shape: shape, wrapping: UnsafeMutableBufferPointer(start: base, count: count))
}

/// Copies a tensor's elements to caller memory.
func copy<T: TensorScalar>(_ tensor: Tensor<T>, to destination: UnsafeMutableRawPointer?) {
    guard let destination else { return }
    tensor.withUnsafeBufferPointer { source in
        guard let base = source.baseAddress else { return }
        destination.copyMemory(from: base, byteCount: source.count * MemoryLayout<T>.stride)
    }
}
