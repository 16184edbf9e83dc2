// tfla_forward, tfla_training_forward and the saved forward.
import CTFLAABI
import TFLA

@_cdecl("tfla_forward")
public func tfla_forward(_ problem: UnsafePointer<tfla_problem>?, _ options: UnsafePointer<tfla_options>?,
                         _ outputs: UnsafePointer<tfla_outputs>?) -> tfla_status {
    entryPoint {
        let problem = try Problem(problem, entry: "tfla_forward")
        let options = try decodeOptions(options, training: false)
        let outputs = try required(outputs, "outputs").pointee
        _ = try problem.outputRegions(outputs)
        switch problem.dtype {
        case TFLA_FLOAT64: try forward(problem, options, outputs, Double.self)
        case TFLA_BFLOAT16: try forwardBFloat16(problem, options, outputs)
        default: try forward(problem, options, outputs, Float.self)
        }
    }
}

/// h written in place into the caller's buffer; the final state copied.
private func forward<T: KernelScalar>(_ problem: Problem, _ options: ChunkwiseOptions, _ outputs: tfla_outputs,
                                      _: T.Type) throws {
    var h: Tensor<T> = try wrap(try required(outputs.h, "outputs.h"), problem.shape.valueShape)
    let state = try Chunkwise.forward(
        try problem.inputs(T.self), gate: problem.gate, initialState: try problem.initialState(T.self),
        eps: T(problem.eps), options: options, into: &h)
    copyState(state, to: outputs)
}

/// bfloat16 storage: h written in place into the caller's bfloat16 buffer;
/// the final state (float32) copied. With `TFLA_PRECISION_BF16_PRODUCTS` on
/// a CPU with AMX, q, k and v are read in place as bfloat16 and packed into
/// tiles once per chunk; otherwise (`TFLA_PRECISION_INPUT`, or no AMX) they
/// are widened to float32 copies and computed in float32, and h is that
/// result rounded to bfloat16 (`Chunkwise.forward(storedAs:...into:)`).
private func forwardBFloat16(_ problem: Problem, _ options: ChunkwiseOptions, _ outputs: tfla_outputs) throws {
    var h: Tensor<BFloat16> = try wrap(try required(outputs.h, "outputs.h"), problem.shape.valueShape)
    let state = try Chunkwise.forward(
        storedAs: try problem.inputs(BFloat16.self), gate: problem.gate,
        initialState: try problem.initialState(Float.self), eps: Float(problem.eps), options: options, into: &h)
    copyState(state, to: outputs)
}

// MARK: - Training

/// What a training forward keeps for its backward, with the problem it
/// was computed for (checked by the backward).
final class SavedForward {
    enum Output {
        case float(MLSTMTrainingOutput<Float>)
        case double(MLSTMTrainingOutput<Double>)
    }

    let output: Output
    let shape: ProblemShape
    let dtype: tfla_dtype
    let gate: Gate
    let eps: Double

    init(_ output: Output, problem: Problem) {
        self.output = output
        (shape, dtype, gate, eps) = (problem.shape, problem.dtype, problem.gate, problem.eps)
    }

    var bytes: Int {
        func size<T>(_ o: MLSTMTrainingOutput<T>) -> Int {
            let s = o.chunkStates
            let counts = o.h.count + o.state.c.count + o.state.n.count + o.state.m.count + s.c.count + s.n.count
                + s.denominatorArguments.count
            return counts * MemoryLayout<T>.stride + s.m.count * MemoryLayout<Double>.stride
        }
        switch output {
        case let .float(o): return size(o)
        case let .double(o): return size(o)
        }
    }

    /// The saved output for `T`, after checking it belongs to `problem`.
    func output<T: KernelScalar>(for problem: Problem, _: T.Type) throws -> MLSTMTrainingOutput<T> {
        guard dtype == problem.dtype else {
            throw ABIError.invalid("saved forward: computed for \(dtype.name), the problem is \(problem.dtype.name)")
        }
        guard shape == problem.shape else {
            throw ABIError(status: TFLA_ERROR_SHAPE, message: "saved forward: computed for \(shape), the problem is \(problem.shape)")
        }
        guard gate == problem.gate else {
            throw ABIError.invalid("saved forward: computed for the \(gate) gate, the problem has the \(problem.gate) gate")
        }
        guard eps == problem.eps || (eps.isNaN && problem.eps.isNaN) else {
            throw ABIError.invalid("saved forward: computed with eps = \(eps), the problem has eps = \(problem.eps)")
        }
        switch output {
        case let .float(o): if let o = o as? MLSTMTrainingOutput<T> { return o }
        case let .double(o): if let o = o as? MLSTMTrainingOutput<T> { return o }
        }
        throw ABIError(status: TFLA_ERROR_INTERNAL, message: "saved forward: stored type does not match its dtype")
    }
}

func requireTrainingDType(_ problem: Problem, _ entry: String) throws {
    guard problem.dtype != TFLA_BFLOAT16 else {
        throw ABIError.unsupported("\(entry): bfloat16 inputs are supported by tfla_forward only; convert to float32 for training")
    }
}

func requireStride(_ stride: Int64) throws {
    guard stride >= 1 else { throw ABIError.invalid("state_stride = \(stride): must be at least 1") }
}

/// The training forward's output for `T`; h and the final state copied
/// to `outputs` (h stays in the saved forward too: the backward reads it).
func trainingForward<T: KernelScalar>(_ problem: Problem, _ options: ChunkwiseOptions, stride: Int64,
                                      _: T.Type) throws -> MLSTMTrainingOutput<T> {
    try Chunkwise.trainingForward(
        try problem.inputs(T.self), gate: problem.gate, initialState: try problem.initialState(T.self),
        eps: T(problem.eps), stateStride: Int(stride), options: options)
}

@_cdecl("tfla_training_forward")
public func tfla_training_forward(
    _ problem: UnsafePointer<tfla_problem>?, _ options: UnsafePointer<tfla_options>?, _ stateStride: Int64,
    _ outputs: UnsafePointer<tfla_outputs>?, _ saved: UnsafeMutablePointer<OpaquePointer?>?
) -> tfla_status {
    entryPoint {
        let saved = try required(saved, "saved")
        saved.pointee = nil
        let problem = try Problem(problem, entry: "tfla_training_forward")
        let options = try decodeOptions(options, training: true)
        let outputs = try required(outputs, "outputs").pointee
        let regions = try problem.outputRegions(outputs)
        try requireDisjoint(outputs: [try Region(UnsafeRawPointer(saved), "saved", count: 1, size: MemoryLayout<OpaquePointer>.size)],
                            inputs: regions + problem.regions)
        try requireTrainingDType(problem, "tfla_training_forward")
        try requireStride(stateStride)
        let result: SavedForward
        if problem.dtype == TFLA_FLOAT64 {
            let output = try trainingForward(problem, options, stride: stateStride, Double.self)
            copy(output.h, to: outputs.h)
            copyState(output.state, to: outputs)
            result = SavedForward(.double(output), problem: problem)
        } else {
            let output = try trainingForward(problem, options, stride: stateStride, Float.self)
            copy(output.h, to: outputs.h)
            copyState(output.state, to: outputs)
            result = SavedForward(.float(output), problem: problem)
        }
        saved.pointee = OpaquePointer(Unmanaged.passRetained(result).toOpaque())
    }
}

/// The saved forward behind a C handle (not retained).
func savedForward(_ handle: OpaquePointer?) throws -> SavedForward {
    let handle = try required(handle, "saved")
    return Unmanaged<SavedForward>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

@_cdecl("tfla_saved_bytes")
public func tfla_saved_bytes(_ saved: OpaquePointer?) -> Int {
    guard let saved else { return 0 }
    return Unmanaged<SavedForward>.fromOpaque(UnsafeRawPointer(saved)).takeUnretainedValue().bytes
}

@_cdecl("tfla_saved_free")
public func tfla_saved_free(_ saved: OpaquePointer?) {
    guard let saved else { return }
    Unmanaged<SavedForward>.fromOpaque(UnsafeRawPointer(saved)).release()
}
