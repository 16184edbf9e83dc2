// tfla_backward and tfla_forward_backward.
import CTFLAABI
import TFLA

/// Decoded upstream gradients and gradient outputs, checked against a
/// problem (required pointers, sizes, alignment, overlaps).
struct GradientArguments {
    let upstream: tfla_upstream
    let gradients: tfla_gradients

    init(_ problem: Problem, _ upstream: UnsafePointer<tfla_upstream>?, _ gradients: UnsafePointer<tfla_gradients>?,
         otherOutputs: [Region] = []) throws {
        self.upstream = try required(upstream, "upstream").pointee
        self.gradients = try required(gradients, "gradients").pointee
        let (sizes, size, state) = (problem.sizes, problem.dtype.elementSize, problem.dtype.stateSize)
        var inputs = problem.regions
        inputs.append(try Region(try required(self.upstream.dh, "upstream.dh"), "dh", count: sizes.value, size: size))
        if let dc = self.upstream.dc { inputs.append(try Region(dc, "dc", count: sizes.memory, size: state)) }
        if let dn = self.upstream.dn { inputs.append(try Region(dn, "dn", count: sizes.normalizer, size: state)) }
        if let dm = self.upstream.dm { inputs.append(try Region(dm, "dm", count: sizes.heads, size: state)) }
        let g = self.gradients
        var outputs = [
            try Region(try required(g.dq, "gradients.dq"), "dq", count: sizes.query, size: size),
            try Region(try required(g.dk, "gradients.dk"), "dk", count: sizes.query, size: size),
            try Region(try required(g.dv, "gradients.dv"), "dv", count: sizes.value, size: size),
            try Region(try required(g.di, "gradients.di"), "di", count: sizes.gate, size: size),
            try Region(try required(g.df, "gradients.df"), "df", count: sizes.gate, size: size)]
        if let dc0 = g.dc0 { outputs.append(try Region(dc0, "dc0", count: sizes.memory, size: state)) }
        if let dn0 = g.dn0 { outputs.append(try Region(dn0, "dn0", count: sizes.normalizer, size: state)) }
        if let dm0 = g.dm0 { outputs.append(try Region(dm0, "dm0", count: sizes.heads, size: state)) }
        try requireDisjoint(outputs: outputs + otherOutputs, inputs: inputs)
    }

    var hasFinalStateGradient: Bool { upstream.dc != nil || upstream.dn != nil || upstream.dm != nil }

    func dh<T: TensorScalar>(_ problem: Problem, _: T.Type) throws -> Tensor<T> {
        try wrap(try required(upstream.dh, "upstream.dh"), problem.shape.valueShape)
    }

    /// The final state's gradients (nil: zeros; parts left NULL are zeros).
    func dFinalState<T: TensorScalar>(_ problem: Problem, _: T.Type) throws -> MLSTMState<T>? {
        guard hasFinalStateGradient else { return nil }
        let shape = problem.shape
        func part(_ pointer: UnsafeRawPointer?, _ dims: [Int]) throws -> Tensor<T> {
            try pointer.map { try wrap($0, dims) } ?? Tensor(shape: dims)
        }
        return MLSTMState(c: try part(upstream.dc, shape.memoryShape), n: try part(upstream.dn, shape.normalizerShape),
                          m: try part(upstream.dm, shape.stabilizerShape))
    }

    /// Copies gradients to the caller's buffers (those of the initial state
    /// only where wanted).
    func store<T: TensorScalar>(_ result: MLSTMGradients<T>) {
        copy(result.dq, to: gradients.dq)
        copy(result.dk, to: gradients.dk)
        copy(result.dv, to: gradients.dv)
        copy(result.di, to: gradients.di)
        copy(result.df, to: gradients.df)
        copy(result.dInitialState.c, to: gradients.dc0)
        copy(result.dInitialState.n, to: gradients.dn0)
        copy(result.dInitialState.m, to: gradients.dm0)
    }
}

@_cdecl("tfla_backward")
public func tfla_backward(
    _ problem: UnsafePointer<tfla_problem>?, _ options: UnsafePointer<tfla_options>?, _ saved: OpaquePointer?,
    _ upstream: UnsafePointer<tfla_upstream>?, _ mode: tfla_gradient_mode, _ gradients: UnsafePointer<tfla_gradients>?
) -> tfla_status {
    entryPoint {
        let problem = try Problem(problem, entry: "tfla_backward")
        let options = try decodeOptions(options, training: true)
        let mode = try decodeMode(mode)
        let arguments = try GradientArguments(problem, upstream, gradients)
        try requireTrainingDType(problem, "tfla_backward")
        let saved = try savedForward(saved)
        if problem.dtype == TFLA_FLOAT64 {
            try backward(problem, options, saved.output(for: problem, Double.self), arguments, mode)
        } else {
            try backward(problem, options, saved.output(for: problem, Float.self), arguments, mode)
        }
    }
}

private func backward<T: KernelScalar>(_ problem: Problem, _ options: ChunkwiseOptions, _ forward: MLSTMTrainingOutput<T>,
                                       _ arguments: GradientArguments, _ mode: GradientMode) throws {
    let result = try Chunkwise.backward(
        try problem.inputs(T.self), gate: problem.gate, initialState: try problem.initialState(T.self),
        eps: T(problem.eps), forward: forward, dh: try arguments.dh(problem, T.self),
        dFinalState: try arguments.dFinalState(problem, T.self), mode: mode, options: options)
    arguments.store(result)
}

@_cdecl("tfla_forward_backward")
public func tfla_forward_backward(
    _ problem: UnsafePointer<tfla_problem>?, _ options: UnsafePointer<tfla_options>?, _ stateStride: Int64,
    _ upstream: UnsafePointer<tfla_upstream>?, _ mode: tfla_gradient_mode, _ outputs: UnsafePointer<tfla_outputs>?,
    _ gradients: UnsafePointer<tfla_gradients>?
) -> tfla_status {
    entryPoint {
        let problem = try Problem(problem, entry: "tfla_forward_backward")
        let options = try decodeOptions(options, training: true)
        let mode = try decodeMode(mode)
        let outputs = outputs?.pointee ?? tfla_outputs()
        let regions = try problem.outputRegions(outputs, requireH: false)
        let arguments = try GradientArguments(problem, upstream, gradients, otherOutputs: regions)
        try requireTrainingDType(problem, "tfla_forward_backward")
        try requireStride(stateStride)
        if problem.dtype == TFLA_FLOAT64 {
            try forwardBackward(problem, options, stateStride, arguments, mode, outputs, Double.self)
        } else {
            try forwardBackward(problem, options, stateStride, arguments, mode, outputs, Float.self)
        }
    }
}

private func forwardBackward<T: KernelScalar>(
    _ problem: Problem, _ options: ChunkwiseOptions, _ stride: Int64, _ arguments: GradientArguments,
    _ mode: GradientMode, _ outputs: tfla_outputs, _: T.Type
) throws {
    let result = try Chunkwise.gradients(
        try problem.inputs(T.self), gate: problem.gate, initialState: try problem.initialState(T.self),
        eps: T(problem.eps), dh: try arguments.dh(problem, T.self),
        dFinalState: try arguments.dFinalState(problem, T.self), mode: mode, stateStride: Int(stride), options: options)
    copy(result.output.h, to: outputs.h)
    copyState(result.output.state, to: outputs)
    arguments.store(result.gradients)
}
