extension Chunkwise {
    /// The forward pass for inputs stored in a 16-bit type (`Float16`,
    /// ``BFloat16``), with h returned in the storage type.
    ///
    /// The state stays float32: its stabilizer m is a log-scale that grows
    /// with the sequence, and rounding it to 8 (bfloat16) or 11 (float16)
    /// significant bits would rescale C and n by up to e^{ulp(m)/2} — a
    /// relative error of percents, not of one rounding.
    ///
    /// How the work is done:
    /// - ``BFloat16`` inputs with ``ChunkwiseOptions/Precision/bf16Products``
    ///   on a CPU with AMX tiles: q, k and v are read where they are, as
    ///   bfloat16, and packed into tiles once per chunk; no float32 copy of
    ///   them is made (the gates, B·NH·S values each, are widened). The
    ///   scores are tile products of the bfloat16 q and k (exact products,
    ///   float32 sums), q·n is a float32 sum, and Q·C, S·V and the state
    ///   update round their other operand (C, the decayed scores, the
    ///   weighted keys) to bfloat16 as the recipe of
    ///   ``ChunkwiseOptions/Precision/bf16Products`` says.
    /// - ``BFloat16`` inputs with `bf16Products` where AMX is missing (and
    ///   `bf16Path` left automatic): the inputs are widened to float32 and
    ///   every product runs in float32 — at least as fast as bf16 products
    ///   would run there, and more accurate.
    /// - Otherwise (``ChunkwiseOptions/Precision/inputType``, `Float16`, or
    ///   an explicit `bf16Path` other than AMX): the inputs are converted to
    ///   float32 copies and the Float forward runs with the same options.
    ///
    /// - Returns: h in the storage type and the final state in float32.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func forward<Storage: TensorScalar>(
        storedAs inputs: MLSTMInputs<Storage>, gate: Gate,
        initialState: MLSTMState<Float>? = nil, eps: Float = 1e-6,
        options: ChunkwiseOptions = .default
    ) throws(TFLAError) -> MLSTMStoredOutput<Storage> {
        var h: Tensor<Storage>?
        let state = try storedForward(inputs, gate: gate, initialState: initialState, eps: eps, options: options,
                                      output: &h)
        guard let h else { preconditionFailure("the forward allocates h") }
        return MLSTMStoredOutput(h: h, state: state)
    }

    /// ``forward(storedAs:gate:initialState:eps:options:)`` writing h into a
    /// tensor the caller keeps, in float32 or in the storage type (`Output`
    /// must be `Float` or `Storage`): the same values as that call (the
    /// bfloat16 h is the float32 h rounded).
    ///
    /// - Parameters:
    ///   - inputs: q, k, v, i, f in the storage type.
    ///   - gate: exponential or sigmoid input gate.
    ///   - initialState: (c0, n0, m0) in float32, zeros when nil.
    ///   - eps: added to the denominator; finite and ≥ 0.
    ///   - options: as for ``forward(storedAs:gate:initialState:eps:options:)``.
    ///   - h: receives h; its shape must be v's, `(B, NH, S, DHV)`.
    /// - Returns: the state after the last token.
    /// - Throws: ``TFLAError`` before any work when an argument is invalid,
    ///   `h`'s shape or type included.
    public static func forward<Storage: TensorScalar, Output: TensorScalar>(
        storedAs inputs: MLSTMInputs<Storage>, gate: Gate,
        initialState: MLSTMState<Float>? = nil, eps: Float = 1e-6,
        options: ChunkwiseOptions = .default, into h: inout Tensor<Output>
    ) throws(TFLAError) -> MLSTMState<Float> {
        guard Output.self == Float.self || Output.self == Storage.self else {
            throw .unsupported("h of a forward on \(Storage.self) inputs is Float or \(Storage.self), not \(Output.self)")
        }
        var output: Tensor<Output>? = h
        h = Tensor(shape: [0])
        defer { if let output { h = output } }
        return try storedForward(inputs, gate: gate, initialState: initialState, eps: eps, options: options,
                                 output: &output)
    }

    /// Both entries: the packed bfloat16 walk when it applies, else the
    /// Float forward on converted copies.
    private static func storedForward<Storage: TensorScalar, Output: TensorScalar>(
        _ inputs: MLSTMInputs<Storage>, gate: Gate, initialState: MLSTMState<Float>?, eps: Float,
        options: ChunkwiseOptions, output: inout Tensor<Output>?
    ) throws(TFLAError) -> MLSTMState<Float> {
        switch storedPath(Storage.self, options: options) {
        case .packedWalk:
            return try bfloat16Forward(inputs, gate: gate, initialState: initialState, eps: eps,
                                       options: options, output: &output)
        case .widened(let options):
            return try convertedForward(inputs, gate: gate, initialState: initialState, eps: eps, options: options,
                                        output: &output)
        }
    }

    /// How a forward on `Storage` runs.
    private enum StoredPath {
        /// bfloat16 q, k, v read in place by the packed chunk walk.
        case packedWalk
        /// The Float forward on float32 copies, with these options.
        case widened(ChunkwiseOptions)
    }

    /// The packed walk for bfloat16 with bf16 products on AMX; float32
    /// products on copies for bfloat16 with bf16 products left on the
    /// automatic path where AMX is missing; else the options as given.
    private static func storedPath<Storage>(_: Storage.Type, options: ChunkwiseOptions) -> StoredPath {
        guard Storage.self == BFloat16.self, options.precision == .bf16Products else { return .widened(options) }
        let path = options.bf16Path == .automatic ? BF16Products.automaticPath : options.bf16Path
        if path == .matrixUnits && options.productKernel.packsChunkOperands { return .packedWalk }
        guard options.bf16Path == .automatic && path != .matrixUnits else { return .widened(options) }
        var wide = options
        wide.precision = .inputType
        return .widened(wide)
    }

    /// The Float forward on float32 copies of the inputs; h converted.
    private static func convertedForward<Storage: TensorScalar, Output: TensorScalar>(
        _ inputs: MLSTMInputs<Storage>, gate: Gate, initialState: MLSTMState<Float>?, eps: Float,
        options: ChunkwiseOptions, output: inout Tensor<Output>?
    ) throws(TFLAError) -> MLSTMState<Float> {
        let shape = try inputs.validatedShape()
        if let given = output?.shape, given != shape.valueShape {
            throw .shapeMismatch(argument: "h", expected: shape.valueShape, given: given)
        }
        let threads = options.resolved(for: shape).threads
        let wide = inputs.widened(threads: threads)
        if Output.self == Float.self, var target = output as? Tensor<Float> {
            output = nil
            defer { output = target as? Tensor<Output> }
            return try forward(wide, gate: gate, initialState: initialState, eps: eps, options: options, into: &target)
        }
        let result = try forward(wide, gate: gate, initialState: initialState, eps: eps, options: options)
        if var target = output {
            // Moved out and back, so that the caller's storage is written in place.
            output = nil
            result.h.convert(into: &target, threads: threads)
            output = target
        } else {
            output = result.h.converted(threads: threads)
        }
        return result.state
    }

    /// The forward on bfloat16 q, k and v read in place: the packed chunk
    /// walk (`PackedChunkWalk.swift`) over the plan of the Float forward.
    private static func bfloat16Forward<Storage: TensorScalar, Output: TensorScalar>(
        _ inputs: MLSTMInputs<Storage>, gate: Gate, initialState: MLSTMState<Float>?, eps: Float,
        options: ChunkwiseOptions, output: inout Tensor<Output>?
    ) throws(TFLAError) -> MLSTMState<Float> {
        precondition(Storage.self == BFloat16.self && MemoryLayout<Storage>.size == 2)
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try options.validate()
        try initialState?.validate(for: shape, gate: gate, prefix: "initial state ")
        if let given = output?.shape, given != shape.valueShape {
            throw .shapeMismatch(argument: "h", expected: shape.valueShape, given: given)
        }
        let plan = ChunkwisePlan(shape: shape, gate: gate, call: .inference, options: options)
        try MemoryBudget.require(shape.chunkwiseForwardBytes(scalar: MemoryLayout<Output>.size, tiling: plan.tiling,
                                                             training: false), for: "chunkwise forward")
        let (i, f) = try widenedGates(inputs, gate: gate, checks: options.checksValues)
        let initial = initialState ?? MLSTMState(zeroNormalizerFor: shape)
        var state = MLSTMState<Float>(uninitializedFor: shape)
        if output == nil { output = Tensor<Output>(uninitializedShape: shape.valueShape) }
        let nonFinite = options.checksValues ? NonFiniteFlag() : nil
        withBFloat16Operands(inputs, i: i, f: f) { bits, i, f in
            initial.withPointers { start in
                output!.withWritePointer { hOut in
                    state.withMutablePointers { final in
                        let rows: ForwardOutputPointers<Float> = Output.self == Float.self
                            ? ForwardOutputPointers(h: rebound(hOut), state: final)
                            : ForwardOutputPointers(bfloat16H: rebound(hOut), state: final)
                        var context = ForwardContext<Float>(
                            plan: plan, eps: Double(eps), bfloat16: bits, i: i, f: f,
                            initial: InitialStatePointers(c: initialState == nil ? nil : start.c, n: start.n, m: start.m),
                            output: rows)
                        context.apply(options, nonFinite: nonFinite)
                        scan([context], save: nil)
                    }
                }
            }
        }
        if nonFinite?.isRaised == true, let h = output {
            try explainNonFinite(inputs, gate: gate, h: h, threads: plan.tiling.threads, arithmetic: "float32")
        }
        return state
    }
}

extension Chunkwise {
    /// The packed forward (``forward(packed:sequenceOffsets:gate:initialStates:eps:options:)``)
    /// for inputs stored in a 16-bit type, with h in the storage type and
    /// the states in float32: bfloat16 q, k and v are read in place on AMX
    /// with ``ChunkwiseOptions/Precision/bf16Products``, as
    /// ``forward(storedAs:gate:initialState:eps:options:)`` describes;
    /// otherwise the inputs are converted to float32 copies.
    ///
    /// - Throws: ``TFLAError`` before any work when an argument is invalid.
    public static func forward<Storage: TensorScalar>(
        storedAs inputs: MLSTMInputs<Storage>, sequenceOffsets: [Int], gate: Gate,
        initialStates: [MLSTMState<Float>]? = nil, eps: Float = 1e-6,
        options given: ChunkwiseOptions = .default
    ) throws(TFLAError) -> MLSTMPackedStoredOutput<Storage> {
        let options: ChunkwiseOptions
        switch storedPath(Storage.self, options: given) {
        case .packedWalk:
            return try bfloat16PackedForward(inputs, sequenceOffsets: sequenceOffsets, gate: gate,
                                             initialStates: initialStates, eps: eps, options: given)
        case .widened(let widened): options = widened
        }
        let threads = options.resolved(for: try inputs.validatedShape()).threads
        let wide = inputs.widened(threads: threads)
        let result = try forward(packed: wide, sequenceOffsets: sequenceOffsets, gate: gate,
                                 initialStates: initialStates, eps: eps, options: options)
        return MLSTMPackedStoredOutput(h: result.h.converted(threads: threads), states: result.states)
    }

    /// The packed forward on bfloat16 q, k and v read in place: one context
    /// per sequence over the packed chunk walk.
    private static func bfloat16PackedForward<Storage: TensorScalar>(
        _ inputs: MLSTMInputs<Storage>, sequenceOffsets offsets: [Int], gate: Gate,
        initialStates: [MLSTMState<Float>]?, eps: Float, options: ChunkwiseOptions
    ) throws(TFLAError) -> MLSTMPackedStoredOutput<Storage> {
        precondition(Storage.self == BFloat16.self && MemoryLayout<Storage>.size == 2)
        let shape = try inputs.validatedShape()
        try Validation.requireEps(eps)
        try options.validate()
        try validatePacking(offsets, initialStates: initialStates, shape: shape, gate: gate)
        let count = offsets.count - 1
        let plan = ChunkwisePlan(shape: shape, gate: gate, call: .packed, sequences: count, options: options)
        try MemoryBudget.require(shape.chunkwiseForwardBytes(scalar: 2, tiling: plan.tiling, training: false)
                                 + shape.stateBytes(count: 2 * count, scalar: 4), for: "packed forward")
        let (i, f) = try widenedGates(inputs, gate: gate, checks: options.checksValues)
        let initial = initialStates ?? Array(repeating: MLSTMState(zerosFor: shape), count: count)
        var states = (0..<count).map { _ in MLSTMState<Float>(uninitializedFor: shape) }
        var h = Tensor<Storage>(uninitializedShape: shape.valueShape)
        let flag = options.checksValues ? NonFiniteFlag() : nil
        withBFloat16Operands(inputs, i: i, f: f) { bits, i, f in
            initial.withStatePointers { starts in
                h.withWritePointer { output in
                    states.withMutableStatePointers { finals in
                        let contexts = (0..<count).map { index in
                            var context = ForwardContext<Float>(
                                plan: plan, eps: Double(eps), bfloat16: bits, i: i, f: f,
                                initial: InitialStatePointers(c: starts[index].c, n: starts[index].n, m: starts[index].m),
                                output: ForwardOutputPointers(bfloat16H: bfloat16Bits(output), state: finals[index]))
                            context.tokens = offsets[index]..<offsets[index + 1]
                            context.apply(options, nonFinite: flag)
                            return context
                        }
                        scan(contexts, save: nil)
                    }
                }
            }
        }
        if flag?.isRaised == true {
            try explainNonFinite(inputs, gate: gate, h: h, threads: plan.tiling.threads, arithmetic: "float32")
        }
        return MLSTMPackedStoredOutput(h: h, states: states)
    }

    /// Runs `body` with the bits of bfloat16 q, k and v and the widened
    /// gates, alive for the call.
    private static func withBFloat16Operands<Storage: TensorScalar>(
        _ inputs: MLSTMInputs<Storage>, i: Tensor<Float>, f: Tensor<Float>,
        _ body: ((q: UnsafePointer<UInt16>, k: UnsafePointer<UInt16>, v: UnsafePointer<UInt16>),
                 UnsafePointer<Float>, UnsafePointer<Float>) -> Void
    ) {
        let owners = (inputs.q.storage, inputs.k.storage, inputs.v.storage, i.storage, f.storage)
        withExtendedLifetime(owners) {
            body((q: UnsafePointer(bfloat16Bits(owners.0.base)), k: UnsafePointer(bfloat16Bits(owners.1.base)),
                  v: UnsafePointer(bfloat16Bits(owners.2.base))),
                 UnsafePointer(owners.3.base), UnsafePointer(owners.4.base))
        }
    }

    /// The bits of bfloat16 storage.
    private static func bfloat16Bits<Storage>(_ base: UnsafeMutablePointer<Storage>) -> UnsafeMutablePointer<UInt16> {
        UnsafeMutableRawPointer(base).assumingMemoryBound(to: UInt16.self)
    }

    /// The gates of 16-bit inputs, small (B·NH·S each), widened once and
    /// checked when `checks`.
    private static func widenedGates<Storage: TensorScalar>(
        _ inputs: MLSTMInputs<Storage>, gate: Gate, checks: Bool
    ) throws(TFLAError) -> (i: Tensor<Float>, f: Tensor<Float>) {
        let (i, f): (Tensor<Float>, Tensor<Float>) = (inputs.i.converted(), inputs.f.converted())
        if checks {
            try MLSTMInputs(q: Tensor<Float>(shape: [0]), k: Tensor<Float>(shape: [0]), v: Tensor<Float>(shape: [0]),
                            i: i, f: f).validateGateValues(gate: gate)
        }
        return (i, f)
    }
}

extension Tensor {
    /// ``converted(to:)`` on `threads` workers, in blocks of 2^20 elements:
    /// the same values (the widened copies of a 16-bit forward are hundreds
    /// of megabytes at long sequences).
    package func converted<Other: TensorScalar>(to _: Other.Type = Other.self, threads: Int) -> Tensor<Other> {
        var result = Tensor<Other>(uninitializedShape: shape)
        convert(into: &result, threads: threads)
        return result
    }

    /// The elements converted into `target`, a tensor of the same count
    /// (written in place when its storage is not shared), on `threads`
    /// workers for large tensors.
    package func convert<Other: TensorScalar>(into target: inout Tensor<Other>, threads: Int) {
        precondition(target.count == count, "converting \(count) elements into \(target.count)")
        let block = 1 << 20
        let total = count
        withUnsafeBufferPointer { source in
            target.withUnsafeMutableBufferPointer { target in
                guard threads > 1, total > block else { return Self.convert(source, into: target) }
                let (from, to) = (UnsafeSendable(source), UnsafeSendable(target))
                parallelFor(items: (total + block - 1) / block, threads: threads, makeScratch: { () }) { item, _ in
                    let range = item * block..<min(total, (item + 1) * block)
                    Self.convert(UnsafeBufferPointer(rebasing: from.value[range]),
                                 into: UnsafeMutableBufferPointer(rebasing: to.value[range]))
                }
            }
        }
    }
}

extension MLSTMInputs {
    /// q, k, v converted to float32 on `threads` workers, the gates on one.
    func widened(threads: Int) -> MLSTMInputs<Float> {
        MLSTMInputs<Float>(q: q.converted(threads: threads), k: k.converted(threads: threads),
                           v: v.converted(threads: threads), i: i.converted(), f: f.converted())
    }
}
