// The shared arguments of the chunkwise and reference entry points: the
// problem, the options and the outputs, decoded and checked.
import CTFLAABI
import TFLA

/// BuildInfo.version as a C string that lives as long as the process
/// (written once, then only read).
nonisolated(unsafe) let libraryVersion: UnsafePointer<CChar> = {
    let bytes = Array(BuildInfo.version.utf8CString)
    let copy = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
    copy.initialize(from: bytes, count: bytes.count)
    return UnsafePointer(copy)
}()

@_cdecl("tfla_abi_version")
public func tfla_abi_version() -> UInt32 { UInt32(TFLA_ABI_VERSION) }

@_cdecl("tfla_version")
public func tfla_version() -> UnsafePointer<CChar> { libraryVersion }

let defaultOptions: tfla_options = {
    var options = tfla_options()
    options.struct_size = MemoryLayout<tfla_options>.size
    options.chunk_size = 64
    options.query_tile = 64
    options.key_tile = 64
    options.checks_values = 1
    options.precision = Int32(TFLA_PRECISION_INPUT.rawValue)
    return options
}()

/// The fields that a problem and a step's arguments share, so that their
/// defaults are set in one place.
protocol CallArguments {
    init()
    var struct_size: Int { get set }
    var dtype: tfla_dtype { get set }
    var gate: tfla_gate { get set }
    var eps: Double { get set }
}

extension tfla_problem: CallArguments {}
extension tfla_step_args: CallArguments {}

/// Arguments at their defaults: float32, the exponential gate, eps = 1e-6,
/// every other field zero (sizes and threads chosen by the library,
/// pointers NULL).
func defaultArguments<T: CallArguments>() -> T {
    var arguments = T()
    arguments.struct_size = MemoryLayout<T>.size
    arguments.dtype = TFLA_FLOAT32
    arguments.gate = TFLA_GATE_EXPONENTIAL
    arguments.eps = 1e-6
    return arguments
}

var defaultProblem: tfla_problem { defaultArguments() }

@_cdecl("tfla_options_init")
public func tfla_options_init(_ options: UnsafeMutablePointer<tfla_options>?) {
    options?.pointee = defaultOptions
}

@_cdecl("tfla_problem_init")
public func tfla_problem_init(_ problem: UnsafeMutablePointer<tfla_problem>?) {
    problem?.pointee = defaultProblem
}

/// The options of a chunkwise call: the training tiling (chunks of 128) or
/// the inference one when `options` is NULL; 0 is "chosen by the library".
func decodeOptions(_ pointer: UnsafePointer<tfla_options>?, training: Bool) throws -> ChunkwiseOptions {
    guard let pointer else { return training ? .training : .default }
    let given = try readSized(pointer, "tfla_options", defaults: defaultOptions, fieldEnds: [
        fieldEnd(\tfla_options.chunk_size), fieldEnd(\tfla_options.query_tile), fieldEnd(\tfla_options.key_tile),
        fieldEnd(\tfla_options.key_dim_tile), fieldEnd(\tfla_options.value_dim_tile), fieldEnd(\tfla_options.threads),
        fieldEnd(\tfla_options.parallelism), fieldEnd(\tfla_options.segments), fieldEnd(\tfla_options.checks_values),
        fieldEnd(\tfla_options.precision)])
    let sizes: [(String, Int64)] = [
        ("chunk_size", given.chunk_size), ("query_tile", given.query_tile), ("key_tile", given.key_tile),
        ("key_dim_tile", given.key_dim_tile), ("value_dim_tile", given.value_dim_tile), ("threads", given.threads),
        ("parallelism", given.parallelism), ("segments", given.segments)]
    for (name, value) in sizes where value < 0 {
        throw ABIError.invalid("options.\(name) = \(value): must be 0 (chosen by the library) or positive")
    }
    func chosen(_ value: Int64) -> Int? { value == 0 ? nil : Int(value) }
    var options = ChunkwiseOptions(
        chunkSize: chosen(given.chunk_size) ?? (training ? 128 : 64),
        queryTile: chosen(given.query_tile) ?? 64, keyTile: chosen(given.key_tile) ?? 64,
        keyDimTile: chosen(given.key_dim_tile), valueDimTile: chosen(given.value_dim_tile),
        threads: chosen(given.threads), parallelism: chosen(given.parallelism), segments: chosen(given.segments))
    switch given.checks_values {
    case 0: options.checksValues = false
    case 1: options.checksValues = true
    default: throw ABIError.invalid("options.checks_values = \(given.checks_values): must be 0 or 1")
    }
    switch given.precision {
    case Int32(TFLA_PRECISION_INPUT.rawValue): options.precision = .inputType
    case Int32(TFLA_PRECISION_BF16_PRODUCTS.rawValue): options.precision = .bf16Products
    default:
        throw ABIError.invalid("options.precision = \(given.precision): not a tfla_precision (TFLA_PRECISION_INPUT, TFLA_PRECISION_BF16_PRODUCTS)")
    }
    return options
}

/// A decoded problem: sizes, gate, and the caller's input buffers.
struct Problem {
    let sizes: Sizes
    let dtype: tfla_dtype
    let gate: Gate
    let eps: Double
    let q, k, v, i, f: UnsafeRawPointer
    let c0, n0, m0: UnsafeRawPointer?
    /// The inputs' bytes, for the overlap checks of the outputs.
    let regions: [Region]

    var shape: ProblemShape { sizes.shape }

    init(_ pointer: UnsafePointer<tfla_problem>?, entry: String) throws {
        let given = try readSized(pointer, "tfla_problem", defaults: defaultProblem, fieldEnds: [
            fieldEnd(\tfla_problem.shape), fieldEnd(\tfla_problem.dtype), fieldEnd(\tfla_problem.gate),
            fieldEnd(\tfla_problem.eps), fieldEnd(\tfla_problem.q), fieldEnd(\tfla_problem.k), fieldEnd(\tfla_problem.v),
            fieldEnd(\tfla_problem.i), fieldEnd(\tfla_problem.f), fieldEnd(\tfla_problem.c0), fieldEnd(\tfla_problem.n0),
            fieldEnd(\tfla_problem.m0)])
        dtype = try decodeDType(given.dtype)
        gate = try decodeGate(given.gate)
        eps = given.eps
        sizes = try Sizes(given.shape)
        try Self.requireMemory(sizes.shape, dtype, for: entry)
        (q, k, v) = (try required(given.q, "q"), try required(given.k, "k"), try required(given.v, "v"))
        (i, f) = (try required(given.i, "i"), try required(given.f, "f"))
        (c0, n0, m0) = (given.c0, given.n0, given.m0)
        let (size, state) = (dtype.elementSize, dtype.stateSize)
        var regions = [
            try Region(q, "q", count: sizes.query, size: size), try Region(k, "k", count: sizes.query, size: size),
            try Region(v, "v", count: sizes.value, size: size),
            try Region(i, "i", count: sizes.gate, size: size), try Region(f, "f", count: sizes.gate, size: size)]
        if let c0 { regions.append(try Region(c0, "c0", count: sizes.memory, size: state)) }
        if let n0 { regions.append(try Region(n0, "n0", count: sizes.normalizer, size: state)) }
        if let m0 { regions.append(try Region(m0, "m0", count: sizes.heads, size: state)) }
        self.regions = regions
    }

    /// Refuses, before the library reads any input, a problem whose
    /// outputs (h and the state, which every entry point allocates at
    /// least once) cannot fit in the memory available.
    static func requireMemory(_ shape: ProblemShape, _ dtype: tfla_dtype, for entry: String) throws {
        try MemoryBudget.require(shape.outputBytes(scalar: max(dtype.elementSize, dtype.stateSize)), for: entry)
    }

    /// q, k, v, i, f over the caller's memory.
    func inputs<T: TensorScalar>(_: T.Type) throws -> MLSTMInputs<T> {
        MLSTMInputs(q: try wrap(q, shape.queryShape), k: try wrap(k, shape.queryShape),
                    v: try wrap(v, shape.valueShape), i: try wrap(i, shape.gateShape), f: try wrap(f, shape.gateShape))
    }

    /// The initial state over the caller's memory (nil: zeros).
    func initialState<T: TensorScalar>(_: T.Type) throws -> MLSTMState<T>? {
        try MLSTMState(
            c: try c0.map { try wrap($0, shape.memoryShape) }, n: try n0.map { try wrap($0, shape.normalizerShape) },
            m: try m0.map { try wrap($0, shape.stabilizerShape) }, gate: gate)
    }

    /// The checked output regions of h and the final state.
    func outputRegions(_ outputs: tfla_outputs, requireH: Bool = true) throws -> [Region] {
        var regions: [Region] = []
        if requireH || outputs.h != nil {
            regions.append(try Region(try required(outputs.h, "outputs.h"), "h", count: sizes.value, size: dtype.elementSize))
        }
        if let c = outputs.c { regions.append(try Region(c, "c", count: sizes.memory, size: dtype.stateSize)) }
        if let n = outputs.n { regions.append(try Region(n, "n", count: sizes.normalizer, size: dtype.stateSize)) }
        if let m = outputs.m { regions.append(try Region(m, "m", count: sizes.heads, size: dtype.stateSize)) }
        try requireDisjoint(outputs: regions, inputs: self.regions)
        return regions
    }
}

/// Copies a final state to the outputs that are wanted.
func copyState<T: TensorScalar>(_ state: MLSTMState<T>, to outputs: tfla_outputs) {
    copy(state.c, to: outputs.c)
    copy(state.n, to: outputs.n)
    copy(state.m, to: outputs.m)
}
