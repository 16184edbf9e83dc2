/// Pointers and sizes shared by all work items of one backward call.
struct BackwardContext<Scalar: KernelScalar> {
    /// The inputs, tiling and gate, as the forward pass saw them.
    let forward: ForwardContext<Scalar>
    let exact: Bool
    /// The forward's outputs h, its denominator arguments z and its saved
    /// chunk states (every `stride`-th chunk).
    let h, z: UnsafePointer<Scalar>
    let savedC, savedN: UnsafePointer<Scalar>
    let savedM: UnsafePointer<Double>
    let stride: Int
    let segments: Int
    /// Initial state (c0; n0 and m0 are in `forward`) and final state.
    let c0, finalC, finalN: UnsafePointer<Scalar>
    /// Upstream gradients: of h, and of the final state (nil: zero).
    let dh: UnsafePointer<Scalar>
    let dcLast, dnLast, dmLast: UnsafePointer<Scalar>?
    /// Outputs.
    let dq, dk, dv, di, df, dc0, dn0, dm0: UnsafeMutablePointer<Scalar>
    /// Per token (B·NH·S): q·dq, k·dk and the gradient reaching the output
    /// stabilizer m_t, for the gate gradients.
    let querySums, keySums, stabilizerGradients: UnsafeMutablePointer<Double>
}

/// The arguments of one backward call, validated, with its plan.
struct BackwardArguments<Scalar: KernelScalar> {
    let plan: ChunkwisePlan
    let eps: Double
    let exact: Bool
    let inputs: MLSTMInputs<Scalar>
    /// The forward's initial state (zeros when it had none).
    let initial: MLSTMState<Scalar>
    /// The training forward's output, with its saved chunk states.
    let forward: MLSTMTrainingOutput<Scalar>
    let dh: Tensor<Scalar>
    let dFinalState: MLSTMState<Scalar>?
}

extension BackwardContext {
    /// Runs `body` with the context of one backward call: pointers into the
    /// arguments' tensors and `gradients`, valid for the call (each comes
    /// from a scoped accessor), and the per-token sums, scratch of this
    /// call. The forward context reads the inputs and the initial state and
    /// writes nothing.
    static func with<R>(
        _ arguments: BackwardArguments<Scalar>, gradients: inout MLSTMGradients<Scalar>, _ body: (BackwardContext) -> R
    ) -> R {
        let (plan, shape) = (arguments.plan, arguments.plan.shape)
        let (inputs, initial, forward, saved) = (arguments.inputs, arguments.initial, arguments.forward, arguments.forward.chunkStates)
        let (dh, dFinalState) = (arguments.dh, arguments.dFinalState)
        let stride = plan.stateStride
        let segments = (plan.chunks + stride - 1) / stride
        let tokens = shape.batchHeads * shape.sequence
        // q·dq, k·dk and the stabilizer gradients, per token.
        let sums = OwnedBuffer<Double>(capacity: 3 * tokens)
        // One scope per tensor group, nested (written flat).
        return inputs.withPointers { input in
        initial.withPointers { start in
        forward.h.withReadPointer { h in
        forward.state.withPointers { final in
        saved.withPointers { savedC, savedN, savedM, z in
        dh.withReadPointer { dh in
        dFinalState.withStatePointers { upstream in
        gradients.withMutablePointers { g in
        sums.withPointer { sums in
            let forwardContext = ForwardContext(
                plan: plan, eps: arguments.eps, inputs: input,
                initial: InitialStatePointers(c: start.c, n: start.n, m: start.m), output: nil)
            return body(BackwardContext(
                forward: forwardContext, exact: arguments.exact, h: h, z: z,
                savedC: savedC, savedN: savedN, savedM: savedM, stride: stride, segments: segments,
                c0: start.c, finalC: final.c, finalN: final.n,
                dh: dh, dcLast: upstream?.c, dnLast: upstream?.n, dmLast: upstream?.m,
                dq: g.dq, dk: g.dk, dv: g.dv, di: g.di, df: g.df, dc0: g.dc0, dn0: g.dn0, dm0: g.dm0,
                querySums: sums, keySums: sums + tokens, stabilizerGradients: sums + 2 * tokens))
        }
        }
        }
        }
        }
        }
        }
        }
        }
    }
}

/// One worker's scratch for the backward pass, sized once.
final class BackwardScratch<Scalar: KernelScalar> {
    /// For recomputing chunk states between saved ones.
    let forward: ForwardScratch<Scalar>
    /// The gates of the chunk being differentiated.
    let gates: ChunkGates
    /// States before the chunks of one segment (slot 0 unused: it is the
    /// saved state itself), with their normalizers and stabilizers.
    let states: OwnedBuffer<Scalar>
    let normalizers: OwnedBuffer<Scalar>
    let stabilizers: OwnedBuffer<Double>
    /// The gradient of the state after the current chunk: dC and dn.
    let memoryGradient: OwnedBuffer<Scalar>
    let normalizerGradient: OwnedBuffer<Scalar>
    /// dh_t / (den_t + eps) for the chunk, and α_t·q_t.
    let scaledOutputGradient: OwnedBuffer<Scalar>
    let scaledQueries: OwnedBuffer<Scalar>
    /// Tiles: scores S̄, their gradients, and the decay weights D̄.
    let scores, scoreGradients, decay: OwnedBuffer<Scalar>
    /// Per token of the chunk: 1/(den + eps) and ζ (the gradient of the
    /// denominator's argument).
    let inverseDenominator, denominatorGradient: OwnedBuffer<Scalar>

    init(_ context: BackwardContext<Scalar>) {
        let forwardContext = context.forward
        let (shape, tiling) = (forwardContext.shape, forwardContext.tiling)
        let (dqk, dhv, chunk) = (shape.keyDim, shape.valueDim, tiling.chunk)
        forward = ForwardScratch(forwardContext)
        gates = ChunkGates(capacity: chunk)
        let recomputed = context.stride > 1 ? context.stride : 0
        states = OwnedBuffer(capacity: max(1, recomputed * dqk * dhv))
        normalizers = OwnedBuffer(capacity: max(1, recomputed * dqk))
        stabilizers = OwnedBuffer(capacity: context.stride)
        memoryGradient = OwnedBuffer(capacity: dqk * dhv)
        normalizerGradient = OwnedBuffer(capacity: dqk)
        scaledOutputGradient = OwnedBuffer(capacity: chunk * dhv)
        scaledQueries = OwnedBuffer(capacity: chunk * dqk)
        scores = OwnedBuffer(capacity: tiling.query * tiling.kv)
        scoreGradients = OwnedBuffer(capacity: tiling.query * tiling.kv)
        decay = OwnedBuffer(capacity: tiling.query * tiling.kv)
        inverseDenominator = OwnedBuffer(capacity: chunk)
        denominatorGradient = OwnedBuffer(capacity: chunk)
    }
}
