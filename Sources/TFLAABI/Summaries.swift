// tfla_summarize and tfla_compose: segment summaries (Chunkwise.summary,
// Chunkwise.compose), for a sequence split across calls or processes.
import CTFLAABI
import TFLA

/// The summary's buffers, checked: log_decay and m float64 (B, NH), c and n
/// of the state dtype.
private func summaryRegions(_ summary: tfla_summary, _ sizes: Sizes, stateSize: Int) throws -> [Region] {
    [try Region(try required(summary.log_decay, "summary.log_decay"), "summary.log_decay", count: sizes.heads, size: 8),
     try Region(try required(summary.c, "summary.c"), "summary.c", count: sizes.memory, size: stateSize),
     try Region(try required(summary.n, "summary.n"), "summary.n", count: sizes.normalizer, size: stateSize),
     try Region(try required(summary.m, "summary.m"), "summary.m", count: sizes.heads, size: 8)]
}

@_cdecl("tfla_summarize")
public func tfla_summarize(_ problem: UnsafePointer<tfla_problem>?, _ options: UnsafePointer<tfla_options>?,
                           _ summary: UnsafePointer<tfla_summary>?) -> tfla_status {
    entryPoint {
        let problem = try Problem(problem, entry: "tfla_summarize")
        let options = try decodeOptions(options, training: false)
        let summary = try required(summary, "summary").pointee
        try requireDisjoint(outputs: try summaryRegions(summary, problem.sizes, stateSize: problem.dtype.stateSize),
                            inputs: problem.regions)
        guard problem.c0 == nil, problem.n0 == nil, problem.m0 == nil else {
            throw ABIError.invalid("tfla_summarize: the initial state (c0, n0, m0) must be NULL: a summary starts from the empty state")
        }
        guard problem.dtype != TFLA_BFLOAT16 else {
            throw ABIError.unsupported("tfla_summarize: bfloat16 inputs are supported by tfla_forward only; convert to float32")
        }
        if problem.dtype == TFLA_FLOAT64 {
            try summarize(problem, options, summary, Double.self)
        } else {
            try summarize(problem, options, summary, Float.self)
        }
    }
}

private func summarize<T: KernelScalar>(_ problem: Problem, _ options: ChunkwiseOptions, _ summary: tfla_summary,
                                        _: T.Type) throws {
    let result = try Chunkwise.summary(of: try problem.inputs(T.self), gate: problem.gate, options: options)
    copy(result.logDecay, to: summary.log_decay)
    copy(result.c, to: summary.c)
    copy(result.n, to: summary.n)
    copy(result.m, to: summary.m)
}

@_cdecl("tfla_compose")
public func tfla_compose(_ shape: tfla_shape, _ stateDType: tfla_dtype, _ gate: tfla_gate,
                         _ summary: UnsafePointer<tfla_summary>?, _ c: UnsafeMutableRawPointer?,
                         _ n: UnsafeMutableRawPointer?, _ m: UnsafeMutableRawPointer?) -> tfla_status {
    entryPoint {
        let sizes = try Sizes(shape, sequence: false)
        let dtype = try decodeDType(stateDType, "state_dtype")
        guard dtype != TFLA_BFLOAT16 else {
            throw ABIError.invalid("state_dtype = TFLA_BFLOAT16: a state is float32 or float64 (a bfloat16 problem's is float32)")
        }
        let gate = try decodeGate(gate)
        let summary = try required(summary, "summary").pointee
        let c = try required(c, "c"), n = try required(n, "n")
        guard gate.isStabilized ? m != nil : true else {
            throw ABIError.invalid("m is NULL: the exponential gate's state has a stabilizer")
        }
        var state = [try Region(c, "c", count: sizes.memory, size: dtype.stateSize),
                     try Region(n, "n", count: sizes.normalizer, size: dtype.stateSize)]
        if let m { state.append(try Region(m, "m", count: sizes.heads, size: dtype.stateSize)) }
        try requireDisjoint(outputs: state, inputs: try summaryRegions(summary, sizes, stateSize: dtype.stateSize))
        try MemoryBudget.require(sizes.shape.outputBytes(scalar: dtype.stateSize), for: "tfla_compose")
        if dtype == TFLA_FLOAT64 {
            try compose(sizes.shape, gate, summary, c, n, m, Double.self)
        } else {
            try compose(sizes.shape, gate, summary, c, n, m, Float.self)
        }
    }
}

private func compose<T: KernelScalar>(_ shape: ProblemShape, _ gate: Gate, _ summary: tfla_summary,
                                      _ c: UnsafeMutableRawPointer, _ n: UnsafeMutableRawPointer,
                                      _ m: UnsafeMutableRawPointer?, _: T.Type) throws {
    let pair = [shape.batch, shape.heads]
    let parts = SegmentSummary<T>.assembled(
        gate: gate, logDecay: try wrap(try required(summary.log_decay, "summary.log_decay"), pair),
        c: try wrap(try required(summary.c, "summary.c"), shape.memoryShape),
        n: try wrap(try required(summary.n, "summary.n"), shape.normalizerShape),
        m: try wrap(try required(summary.m, "summary.m"), pair))
    let before = try MLSTMState(
        c: try wrap(c, shape.memoryShape) as Tensor<T>, n: try wrap(n, shape.normalizerShape),
        m: try m.map { try wrap($0, shape.stabilizerShape) }, gate: gate)
    let after = try Chunkwise.compose(parts, after: before)
    copy(after.c, to: c)
    copy(after.n, to: n)
    copy(after.m, to: m)
}
