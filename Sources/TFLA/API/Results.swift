// Result types of the public entry points: the outputs of a sequence and of
// a step, and gradients.

/// The result of a sequence kernel: outputs and the state after the last token.
public struct MLSTMOutput<Scalar: TensorScalar>: Sendable {
    /// Outputs `(B, NH, S, DHV)`.
    public var h: Tensor<Scalar>
    /// The state after the last token.
    public var state: MLSTMState<Scalar>
}

/// The result of one generation step.
public struct MLSTMStepOutput<Scalar: TensorScalar>: Sendable {
    /// Output `(B, NH, DHV)`.
    public var h: Tensor<Scalar>
    /// The state after the step.
    public var state: MLSTMState<Scalar>
}

/// Gradients of a loss with respect to the inputs and initial state of an
/// mLSTM sequence.
public struct MLSTMGradients<Scalar: TensorScalar>: Sendable {
    public var dq, dk, dv, di, df: Tensor<Scalar>
    /// Gradients for the initial state (zeros when none was given).
    public var dc0, dn0, dm0: Tensor<Scalar>
}
