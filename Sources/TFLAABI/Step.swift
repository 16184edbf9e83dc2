// tfla_step: the fused generation step over the caller's buffers, state
// advanced in place (the kernel of InferenceState.step, no copies).
import CTFLAABI
import TFLA

var defaultStepArgs: tfla_step_args { defaultArguments() }

@_cdecl("tfla_step_args_init")
public func tfla_step_args_init(_ args: UnsafeMutablePointer<tfla_step_args>?) {
    args?.pointee = defaultStepArgs
}

@_cdecl("tfla_step")
public func tfla_step(_ args: UnsafePointer<tfla_step_args>?) -> tfla_status {
    entryPoint {
        let given = try readSized(args, "tfla_step_args", defaults: defaultStepArgs, fieldEnds: [
            fieldEnd(\tfla_step_args.shape), fieldEnd(\tfla_step_args.dtype), fieldEnd(\tfla_step_args.gate),
            fieldEnd(\tfla_step_args.eps), fieldEnd(\tfla_step_args.threads), fieldEnd(\tfla_step_args.q),
            fieldEnd(\tfla_step_args.k), fieldEnd(\tfla_step_args.v), fieldEnd(\tfla_step_args.i),
            fieldEnd(\tfla_step_args.f), fieldEnd(\tfla_step_args.c), fieldEnd(\tfla_step_args.n),
            fieldEnd(\tfla_step_args.m), fieldEnd(\tfla_step_args.h)])
        let dtype = try decodeDType(given.dtype)
        let gate = try decodeGate(given.gate)
        let sizes = try Sizes(given.shape, sequence: false)
        guard given.threads >= 0 else { throw ABIError.invalid("threads = \(given.threads): must be 0 (all cores) or positive") }
        let (size, stateSize) = (dtype.elementSize, dtype.stateSize)
        let q = try required(given.q, "q"), k = try required(given.k, "k"), v = try required(given.v, "v")
        let i = try required(given.i, "i"), f = try required(given.f, "f")
        let c = try required(given.c, "c"), n = try required(given.n, "n"), m = try required(given.m, "m")
        let h = try required(given.h, "h")
        try requireDisjoint(
            outputs: [try Region(c, "c", count: sizes.memory, size: stateSize),
                      try Region(n, "n", count: sizes.normalizer, size: stateSize),
                      try Region(m, "m", count: sizes.heads, size: stateSize),
                      try Region(h, "h", count: sizes.heads * sizes.shape.valueDim, size: size)],
            inputs: [try Region(q, "q", count: sizes.query, size: size), try Region(k, "k", count: sizes.query, size: size),
                     try Region(v, "v", count: sizes.value, size: size),
                     try Region(i, "i", count: sizes.heads, size: size), try Region(f, "f", count: sizes.heads, size: size)])
        guard dtype != TFLA_BFLOAT16 else {
            throw ABIError.unsupported("tfla_step: bfloat16 inputs are supported by tfla_forward only; step in float32")
        }
        guard given.eps.isFinite, given.eps >= 0, dtype == TFLA_FLOAT64 || Float(given.eps).isFinite else {
            throw ABIError.invalid("eps = \(given.eps): must be finite and at least 0")
        }
        // The step keeps a persistent team per worker count: at most 1024
        // (the tiling never changes the bits).
        let threads = given.threads == 0 ? nil : Int(min(given.threads, 1024))
        let pointers = (q: q, k: k, v: v, i: i, f: f, c: c, n: n, m: m, h: h)
        if dtype == TFLA_FLOAT64 {
            try step(sizes, gate, given.eps, threads, pointers, Double.self)
        } else {
            try step(sizes, gate, given.eps, threads, pointers, Float.self)
        }
    }
}

private func step<T: KernelScalar>(
    _ sizes: Sizes, _ gate: Gate, _ eps: Double, _ threads: Int?,
    _ p: (q: UnsafeRawPointer, k: UnsafeRawPointer, v: UnsafeRawPointer, i: UnsafeRawPointer, f: UnsafeRawPointer,
          c: UnsafeMutableRawPointer, n: UnsafeMutableRawPointer, m: UnsafeMutableRawPointer, h: UnsafeMutableRawPointer),
    _: T.Type
) throws {
    let (b, nh, dqk, dhv) = (sizes.shape.batch, sizes.shape.heads, sizes.shape.keyDim, sizes.shape.valueDim)
    // The token's values (the policy of InferenceState.step), and the
    // state's n and m (O(DQK) per head; C is not scanned: a non-finite C
    // gives a non-finite h, never a crash).
    let token = MLSTMInputs<T>(q: try wrap(p.q, [b, nh, dqk]), k: try wrap(p.k, [b, nh, dqk]), v: try wrap(p.v, [b, nh, dhv]),
                               i: try wrap(p.i, [b, nh, 1]), f: try wrap(p.f, [b, nh, 1]))
    try token.validateValues(gate: gate, threads: 1)
    let n = p.n.assumingMemoryBound(to: T.self), m = p.m.assumingMemoryBound(to: T.self)
    for index in 0..<sizes.normalizer where !n[index].isFinite {
        throw TFLAError.nonFiniteValue(argument: "n", index: [index / (nh * dqk), index / dqk % nh, index % dqk],
                                       value: "\(n[index])", requirement: "must be finite")
    }
    for index in 0..<sizes.heads {
        if !m[index].isFinite {
            throw TFLAError.nonFiniteValue(argument: "m", index: [index / nh, index % nh], value: "\(m[index])",
                                           requirement: "must be finite")
        }
        if !gate.isStabilized && m[index] != 0 {
            throw ABIError.invalid("m[\(index / nh), \(index % nh)] = \(m[index]): must be all zeros for the sigmoid gate")
        }
    }
    PointerStep.run(
        heads: sizes.heads, keyDim: dqk, valueDim: dhv, gate: gate, eps: Double(T(eps)), threads: threads,
        q: p.q.assumingMemoryBound(to: T.self), k: p.k.assumingMemoryBound(to: T.self), v: p.v.assumingMemoryBound(to: T.self),
        i: p.i.assumingMemoryBound(to: T.self), f: p.f.assumingMemoryBound(to: T.self),
        c: p.c.assumingMemoryBound(to: T.self), n: n, m: m, h: p.h.assumingMemoryBound(to: T.self))
}
