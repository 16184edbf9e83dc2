// tfla_reference_forward and tfla_reference_backward: the recurrent and
// parallel forms (Reference.recurrent, Reference.parallel and their
// backwards), results copied to the caller's buffers.
import CTFLAABI
import TFLA

private enum ReferenceKind { case recurrent, parallel }

private func decodeKind(_ kind: tfla_reference) throws -> ReferenceKind {
    switch kind {
    case TFLA_REFERENCE_RECURRENT: return .recurrent
    case TFLA_REFERENCE_PARALLEL: return .parallel
    default: throw ABIError.invalid("kind = \(kind.rawValue): not a tfla_reference (TFLA_REFERENCE_RECURRENT, TFLA_REFERENCE_PARALLEL)")
    }
}

/// The reference forms are float32 or float64, and the parallel form has
/// no state: no initial state, no final state, no final-state gradient.
private func requireReferenceSupport(_ kind: ReferenceKind, _ problem: Problem, stateWanted: Bool) throws {
    guard problem.dtype != TFLA_BFLOAT16 else {
        throw ABIError.unsupported("the reference forms take float32 or float64 inputs, not bfloat16")
    }
    guard kind == .parallel else { return }
    guard problem.c0 == nil, problem.n0 == nil, problem.m0 == nil else {
        throw ABIError.unsupported("TFLA_REFERENCE_PARALLEL takes no initial state (c0, n0, m0 must be NULL); use TFLA_REFERENCE_RECURRENT")
    }
    guard !stateWanted else {
        throw ABIError.unsupported("TFLA_REFERENCE_PARALLEL has no final state (c, n, m and dc, dn, dm must be NULL); use TFLA_REFERENCE_RECURRENT")
    }
}

@_cdecl("tfla_reference_forward")
public func tfla_reference_forward(
    _ kind: tfla_reference, _ problem: UnsafePointer<tfla_problem>?, _ options: UnsafePointer<tfla_options>?,
    _ outputs: UnsafePointer<tfla_outputs>?
) -> tfla_status {
    entryPoint {
        let kind = try decodeKind(kind)
        let problem = try Problem(problem, entry: "tfla_reference_forward")
        _ = try decodeOptions(options, training: false)
        let outputs = try required(outputs, "outputs").pointee
        _ = try problem.outputRegions(outputs)
        try requireReferenceSupport(kind, problem, stateWanted: outputs.c != nil || outputs.n != nil || outputs.m != nil)
        if problem.dtype == TFLA_FLOAT64 {
            try referenceForward(kind, problem, outputs, Double.self)
        } else {
            try referenceForward(kind, problem, outputs, Float.self)
        }
    }
}

private func referenceForward<T: KernelScalar>(_ kind: ReferenceKind, _ problem: Problem, _ outputs: tfla_outputs,
                                               _: T.Type) throws {
    let inputs = try problem.inputs(T.self)
    switch kind {
    case .recurrent:
        let result = try Reference.recurrent(inputs, gate: problem.gate, initialState: try problem.initialState(T.self),
                                             eps: T(problem.eps))
        copy(result.h, to: outputs.h)
        copyState(result.state, to: outputs)
    case .parallel:
        copy(try Reference.parallel(inputs, gate: problem.gate, eps: T(problem.eps)), to: outputs.h)
    }
}

@_cdecl("tfla_reference_backward")
public func tfla_reference_backward(
    _ kind: tfla_reference, _ problem: UnsafePointer<tfla_problem>?, _ options: UnsafePointer<tfla_options>?,
    _ upstream: UnsafePointer<tfla_upstream>?, _ mode: tfla_gradient_mode, _ gradients: UnsafePointer<tfla_gradients>?
) -> tfla_status {
    entryPoint {
        let kind = try decodeKind(kind)
        let problem = try Problem(problem, entry: "tfla_reference_backward")
        _ = try decodeOptions(options, training: false)
        let mode = try decodeMode(mode)
        let arguments = try GradientArguments(problem, upstream, gradients)
        try requireReferenceSupport(kind, problem, stateWanted: arguments.hasFinalStateGradient)
        if kind == .recurrent && mode != .exact {
            throw ABIError.unsupported("TFLA_REFERENCE_RECURRENT has the exact gradient only; TFLA_GRADIENT_REFERENCE needs TFLA_REFERENCE_PARALLEL")
        }
        if problem.dtype == TFLA_FLOAT64 {
            try referenceBackward(kind, problem, arguments, mode, Double.self)
        } else {
            try referenceBackward(kind, problem, arguments, mode, Float.self)
        }
    }
}

private func referenceBackward<T: KernelScalar>(_ kind: ReferenceKind, _ problem: Problem, _ arguments: GradientArguments,
                                                _ mode: GradientMode, _: T.Type) throws {
    let inputs = try problem.inputs(T.self)
    let dh = try arguments.dh(problem, T.self)
    switch kind {
    case .recurrent:
        arguments.store(try Reference.recurrentBackward(
            inputs, gate: problem.gate, initialState: try problem.initialState(T.self), eps: T(problem.eps), dh: dh,
            dFinalState: try arguments.dFinalState(problem, T.self)))
    case .parallel:
        // The initial state's gradients are zeros: the form has none.
        arguments.store(try Reference.parallelBackward(inputs, gate: problem.gate, eps: T(problem.eps), dh: dh, mode: mode))
    }
}
