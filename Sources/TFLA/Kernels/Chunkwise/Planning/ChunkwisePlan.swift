/// Which entry of the chunkwise kernels a plan is for.
///
/// The call decides which phases run: the inference and packed forwards
/// only write h and the final state, the training forward also keeps chunk
/// states, the backward differentiates a training forward, and a summary
/// runs the state recurrence alone.
public enum ChunkwiseCall: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// ``Chunkwise/forward(_:gate:initialState:eps:options:)``.
    case inference
    /// ``Chunkwise/trainingForward(_:gate:initialState:eps:stateStride:options:)``.
    case training
    /// ``Chunkwise/backward(_:gate:initialState:eps:forward:dh:dFinalState:mode:options:)``.
    case backward
    /// ``Chunkwise/forward(packed:sequenceOffsets:gate:initialStates:eps:options:)``.
    case packed
    /// ``Chunkwise/summary(of:gate:options:)``.
    case summary

    /// The call's name, as `tfla plan --call` takes it.
    public var description: String { rawValue }

    /// The entry's name in messages.
    var entryName: String {
        switch self {
        case .inference: "inference forward"
        case .training: "training forward"
        case .backward: "backward"
        case .packed: "packed forward"
        case .summary: "segment summary"
        }
    }

    /// Whether the call is an inference forward (the only calls with bf16 products).
    var isInferenceForward: Bool { self == .inference || self == .packed }
}

/// How one chunkwise call is cut into parallel work: every phase in the
/// order it runs, with its work items.
///
/// The plan is computed once per call by
/// ``Chunkwise/plan(for:gate:call:stateStride:sequences:options:)`` from the
/// shape, the options and the planned worker count
/// (``ChunkwiseOptions/parallelism``); the kernels only carry it out. It
/// decides how sums are split and so the rounding of the result: two calls
/// with equal plans give the same bits on any number of threads.
public struct ChunkwisePlan: Sendable, Hashable, CustomStringConvertible {
    /// The call the plan is for.
    public let call: ChunkwiseCall
    /// The problem's dimensions.
    public let shape: ProblemShape
    /// The input gate (it changes no item, only what each computes).
    public let gate: Gate
    /// How the call's work is organized.
    public let strategy: Strategy
    /// Chunks per head (a packed call: of all its sequences as one).
    public let chunks: Int
    /// Sequence segments of the forward scan or summary; for the backward,
    /// blocks of saved-state runs walked in parallel. 1: one walk.
    public var segments: Int { segmentPlan.count }
    /// Chunks per segment (backward: saved-state runs per block).
    public var segmentLength: Int { segmentPlan.chunksPerSegment }
    /// Tiles of C's columns per head, each an item of its own.
    public var columnTiles: Int { (shape.valueDim + tiling.dhv - 1) / tiling.dhv }
    /// Whether the intra-chunk scores are computed once per chunk and shared
    /// by every column tile (`SharedScores.swift`).
    public let sharesScores: Bool
    /// Sequences of a packed call (1 otherwise).
    public let sequences: Int
    /// The phases in the order they run.
    public let phases: [Phase]

    /// The sizes in force: options clipped to the problem, automatic
    /// choices resolved.
    let tiling: ResolvedTiling
    /// The segments (backward: blocks) the scan cuts the chunks into.
    let segmentPlan: SegmentPlan

    /// The worker count the plan is made for.
    public var parallelism: Int { tiling.parallelism }
    /// Threads that carry the plan out (they never change the result).
    public var threads: Int { tiling.threads }
    /// Tokens per chunk.
    public var chunkSize: Int { tiling.chunk }
    /// Columns of C and h per item.
    public var columnsPerItem: Int { tiling.dhv }
    /// Every `stateStride`-th chunk state is kept (1 for calls that keep none).
    public var stateStride: Int { tiling.stateStride }

    /// How a call organizes its phases.
    public enum Strategy: String, Sendable, Hashable {
        /// Items per (head, segment, column tile) walk their chunks; segments
        /// after the first start from composed summaries.
        case scan
        /// Training with few items: the chunk states first, then the outputs
        /// of every run of chunks from its saved state.
        case statesThenOutputs = "states then outputs"
        /// Backward: one item per head walks its chunks in reverse.
        case headWalks = "head walks"
        /// Backward: blocks of chunks walked in parallel from composed
        /// state-gradient summaries.
        case blocks
        /// Backward with one head: states, the state-gradient recurrence per
        /// column tile, every chunk, the gates.
        case phases
        /// A state-only pass: segment summaries, composed when there are several.
        case summary
    }

    /// What a phase computes; each phase is one parallel region.
    public enum PhaseKind: String, Sendable, Hashable, CaseIterable {
        /// The intra-chunk scores of every (head, chunk), once for all column tiles.
        case sharedScores = "shared scores"
        /// What each segment does to the state, from the empty state.
        case segmentSummaries = "segment summaries"
        /// Every segment's outputs, from its composed incoming state.
        case segmentWalks = "segment walks"
        /// Training with few items: the state before every chunk, per tile of C.
        case chunkStates = "chunk states"
        /// Training with few items: the outputs of every run of chunks.
        case runOutputs = "run outputs"
        /// A summary's segments composed into one.
        case summaryComposition = "composition"
        /// Backward: each head's chunks in reverse.
        case headWalks = "head walks"
        /// Backward: the state-gradient summary of each block but the first.
        case blockSummaries = "block summaries"
        /// Backward: each block's chunks in reverse, from its composed gradient.
        case blockWalks = "block walks"
        /// Backward in phases: the states before the chunks between saved ones.
        case states = "states"
        /// Backward in phases: the state gradient after every chunk, per column tile.
        case stateGradients = "state gradients"
        /// Backward in phases: every chunk's dq, dk, dv.
        case chunkGradients = "chunk gradients"
        /// Backward: the gate gradients of each head.
        case gateGradients = "gate gradients"
    }

    /// One parallel region: its work items and what one item covers.
    public struct Phase: Sendable, Hashable, CustomStringConvertible {
        public let kind: PhaseKind
        /// Independent work items, run by any number of threads.
        public let items: Int
        /// What one item covers, e.g. "head × segment (16 chunks) × 256 columns".
        public let item: String

        /// The phase on one line: kind, items and what one item covers.
        public var description: String { "\(kind.rawValue): \(items) item\(items == 1 ? "" : "s") (\(item))" }
    }

    /// The phase of `kind`; a driver asks only for phases its plan has.
    func phase(_ kind: PhaseKind) -> Phase {
        guard let phase = phases.first(where: { $0.kind == kind }) else {
            preconditionFailure("the \(call) plan has no \(kind.rawValue) phase")
        }
        return phase
    }

    /// The plan on several lines: the call, the shape, the worker count it
    /// was made for, the chunks, tiles and segments, and every phase with
    /// its items (what `tfla plan` prints).
    public var description: String {
        let t = tiling
        var lines = [
            "chunkwise plan: \(call.entryName), \(gate) gate, \(strategy.rawValue)",
            "  shape:       B=\(shape.batch) NH=\(shape.heads) S=\(shape.sequence) DQK=\(shape.keyDim) DHV=\(shape.valueDim)",
            "  planned for: \(parallelism) workers (run on \(threads) threads; threads never change the result)",
            "  chunks:      \(chunks) of \(t.chunk) tokens; tiles: query \(t.query), key/value \(t.kv), rows of C \(t.dqk)",
        ]
        if call != .backward {
            lines.append("  columns:     \(columnTiles) tile\(columnTiles == 1 ? "" : "s") of \(t.dhv) (DHV \(shape.valueDim))"
                         + (sharesScores ? "; scores shared by the tiles" : ""))
        }
        switch call {
        case .backward:
            lines.append("  saved:       every \(t.stateStride) chunk\(t.stateStride == 1 ? "" : "s"); "
                         + "\(segments) block\(segments == 1 ? "" : "s") of \(segmentLength) saved run\(segmentLength == 1 ? "" : "s")")
        case .packed:
            lines.append("  sequences:   \(sequences), one segment each")
        default:
            lines.append("  segments:    \(segments) of \(segmentLength) chunk\(segmentLength == 1 ? "" : "s")"
                         + (call == .training ? "; state saved every \(t.stateStride) chunks" : ""))
        }
        lines.append("  phases:")
        let width = phases.map(\.kind.rawValue.count).max() ?? 0
        let countWidth = phases.map { String($0.items).count }.max() ?? 0
        for (index, phase) in phases.enumerated() {
            let name = phase.kind.rawValue.padding(toLength: width, withPad: " ", startingAt: 0)
            let count = String(repeating: " ", count: countWidth - String(phase.items).count) + String(phase.items)
            lines.append("    \(index + 1). \(name)  \(count) item\(phase.items == 1 ? " " : "s")  \(phase.item)")
        }
        return lines.joined(separator: "\n")
    }
}
