// Result types of the public entry points, all named `MLSTM…`: the outputs
// of a sequence or a step, the training forward's saved states, gradients,
// and their packed (variable-length) and 16-bit-storage forms.

/// The result of a sequence kernel or of one step: outputs and the state
/// after the last token.
public struct MLSTMOutput<Scalar: TensorScalar>: Sendable {
    /// Outputs `(B, NH, S, DHV)` of a sequence, or `(B, NH, DHV)` of one
    /// step (``Reference/step(q:k:v:i:f:state:gate:eps:)``).
    public var h: Tensor<Scalar>
    /// The state after the last token.
    public var state: MLSTMState<Scalar>
}

/// Gradients of a loss with respect to the inputs and initial state of an
/// mLSTM sequence.
public struct MLSTMGradients<Scalar: TensorScalar>: Sendable {
    /// Gradients of q and k, `(B, NH, S, DQK)`.
    public var dq, dk: Tensor<Scalar>
    /// Gradient of v, `(B, NH, S, DHV)`.
    public var dv: Tensor<Scalar>
    /// Gradients of the gate pre-activations, `(B, NH, S)`.
    public var di, df: Tensor<Scalar>
    /// Gradients of the initial state's c, n and m, as a state's c, n, m
    /// (the gradients at zeros when no initial state was given).
    public var dInitialState: MLSTMState<Scalar>
}

/// The states before chunks 0, stride, 2·stride, … of a training forward:
/// what the backward pass starts its recomputation from, with the chunk
/// size and stride it was saved with.
///
/// Made only by ``Chunkwise/trainingForward(_:gate:initialState:eps:stateStride:options:)``;
/// the backward takes its chunk size and stride from here.
public struct MLSTMChunkStates<Scalar: TensorScalar>: Sendable {
    /// Chunks between two saved states (at most the chunk count).
    public let stride: Int
    /// Tokens per chunk (the forward's chunk size, at most S).
    public let chunkSize: Int
    /// Matrix memories `(B, NH, NS, DQK, DHV)`, NS = ⌈chunks / stride⌉.
    public let c: Tensor<Scalar>
    /// Normalizers `(B, NH, NS, DQK)`.
    public let n: Tensor<Scalar>
    /// Stabilizers `(B, NH, NS)`, in Double whatever the scalar: m is a
    /// log-scale of C and n, and rounding it to float32 would rescale them
    /// by up to |m|·2⁻²⁴.
    public let m: Tensor<Double>
    /// z_t = q̄_t·n₋ + Σ_j S̄_tj per token `(B, NH, S)`: the argument of the
    /// denominator max(|z_t|, exp(−m_t)), which the backward pass needs.
    public let denominatorArguments: Tensor<Scalar>
}

/// The result of ``Chunkwise/trainingForward(_:gate:initialState:eps:stateStride:options:)``:
/// outputs, the final state and the chunk states for the backward pass.
public struct MLSTMTrainingOutput<Scalar: TensorScalar>: Sendable {
    /// Outputs `(B, NH, S, DHV)`.
    public var h: Tensor<Scalar>
    /// The state after the last token.
    public var state: MLSTMState<Scalar>
    /// The saved chunk states.
    public var chunkStates: MLSTMChunkStates<Scalar>
}

/// The result of ``Chunkwise/gradients(_:gate:initialState:eps:dh:dFinalState:mode:stateStride:options:)``:
/// the training forward's output and the gradients.
public struct MLSTMTrainingResult<Scalar: TensorScalar>: Sendable {
    /// The training forward's output.
    public var output: MLSTMTrainingOutput<Scalar>
    /// The gradients of the inputs and the initial state.
    public var gradients: MLSTMGradients<Scalar>
}

/// The result of a packed variable-length forward.
public struct MLSTMPackedOutput<Scalar: TensorScalar>: Sendable {
    /// Outputs `(B, NH, T, DHV)`, in the packed layout of the inputs.
    public var h: Tensor<Scalar>
    /// The final state of each sequence, in order.
    public var states: [MLSTMState<Scalar>]
}

/// The result of a packed forward on inputs stored in a 16-bit type:
/// ``Chunkwise/forward(storedAs:sequenceOffsets:gate:initialStates:eps:options:)``.
public struct MLSTMPackedStoredOutput<Storage: TensorScalar>: Sendable {
    /// Outputs `(B, NH, T, DHV)` in the storage type, in the packed layout.
    public var h: Tensor<Storage>
    /// The final state of each sequence, in order, in float32.
    public var states: [MLSTMState<Float>]
}

/// The gradients of a packed variable-length forward.
public struct MLSTMPackedGradients<Scalar: TensorScalar>: Sendable {
    /// Gradients of q, k, v, i, f in the packed layout of the inputs.
    public var dq, dk, dv, di, df: Tensor<Scalar>
    /// Per sequence, in order: the gradients of its initial state (as the
    /// c, n, m of a state; the gradients at zeros when no initial states
    /// were given).
    public var dInitialStates: [MLSTMState<Scalar>]
}

/// The result of ``Chunkwise/gradients(packed:sequenceOffsets:gate:initialStates:eps:dh:dFinalStates:mode:stateStride:options:)``:
/// the packed forward's output and the gradients.
public struct MLSTMPackedTrainingResult<Scalar: TensorScalar>: Sendable {
    /// Outputs and final states of the sequences.
    public var output: MLSTMPackedOutput<Scalar>
    /// The gradients of the inputs and of each sequence's initial state.
    public var gradients: MLSTMPackedGradients<Scalar>
}

/// The result of ``Chunkwise/forward(storedAs:gate:initialState:eps:options:)``:
/// outputs in the storage type, the state in float32.
public struct MLSTMStoredOutput<Storage: TensorScalar>: Sendable {
    /// Outputs `(B, NH, S, DHV)` in the storage type.
    public var h: Tensor<Storage>
    /// The state after the last token, in float32.
    public var state: MLSTMState<Float>
}
