import ArgumentParser
import Foundation
import TFLA

/// The state files a run reads (`c0`, `n0`, `m0`) and writes (`c`, `n`, `m`).
private let initialStateNames = ["c0", "n0", "m0"]

struct SummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Write what a piece of a sequence does to any incoming state (its segment summary).",
        discussion: """
        Reads q, k (B,NH,S,DQK), v (B,NH,S,DHV), i, f (B,NH,S) from --in and writes the \
        summary of the piece as one segment to --out: c.npy (ΔC, B,NH,DQK,DHV) and n.npy \
        (Δn, B,NH,DQK) in the compute dtype, m.npy (Δm) and logDecay.npy (F) in float64 \
        (B,NH), and gate.txt. A summary starts from the empty state: an initial state in \
        --in is refused (it enters at `tfla compose --state` or `tfla run`). Summaries of \
        consecutive pieces compose in order (`tfla compose`, `tfla run --after-summaries`).
        """)

    @OptionGroup var gateOptions: GateOptions
    @OptionGroup var io: IOOptions
    @OptionGroup var tiling: TilingOptions

    func run() throws {
        try reportingFailures {
            if io.repeats != nil { throw CommandFailure("--repeat is not available for tfla summary") }
            let gate = try gateOptions.resolved()
            let directory = try ArrayDirectory(path: io.input, bfloat16Bits: io.bfloat16Bits)
            let headers = try InputHeaders(directory, required: ["q", "k", "v", "i", "f"], optional: initialStateNames)
            if let first = headers.optional.first {
                throw CommandFailure("\(directory.file(first.0)): a summary starts from the empty state; pass the initial state to tfla compose --state or tfla run instead")
            }
            let dtype = try headers.computeDType(requested: io.dtype)
            let (inputs, _) = try headers.read()
            switch dtype {
            case .float32: try write(Float.self, inputs, gate: gate)
            case .float64: try write(Double.self, inputs, gate: gate)
            }
        }
    }

    private func write<S: KernelScalar>(_: S.Type, _ arrays: [(String, NPYArray)], gate: Gate) throws {
        let x = arrays.map { $0.1.tensor(as: S.self) }
        let inputs = MLSTMInputs(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4])
        let summary = try Chunkwise.summary(of: inputs, gate: gate, options: tiling.options())
        var output = try OutputSet(io.output)
        output.add(files: SegmentSummary<S>.fileNames) { directory throws(NPYError) in try summary.save(to: directory) }
        try output.commit()
    }
}

struct ComposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compose",
        abstract: "Compose segment summaries, in order, onto a state; write it as an initial state.",
        discussion: """
        Reads the summaries written by `tfla summary` (comma-separated directories, in \
        sequence order) and composes them onto the state in --state (c0, n0, m0 .npy, or \
        c, n, m as `tfla run` writes them; without --state: zeros with m = 0, the \
        forward's default). Writes c0.npy, n0.npy and m0.npy to --out: the incoming state \
        of the next piece, which `tfla run --in` reads when --out is that piece's directory.
        """)

    @Option(help: "Summary directories, comma-separated, in sequence order.") var summaries: String
    @Option(help: "Directory with the state before the first summary (default: zeros, m = 0).") var state: String?
    @Option(name: .customLong("out"), help: "Directory for c0.npy, n0.npy, m0.npy (created if missing).") var output: String
    @Option(help: "Compute in this dtype (default: the first summary's c.npy dtype).") var dtype: DTypeChoice?

    func run() throws {
        try reportingFailures {
            let paths = try SegmentPaths.split(summaries, option: "--summaries")
            let first = try ArrayDirectory(path: paths[0])
            let dtype = try dtype ?? ((try first.header("c")).dtypeName == "float64" ? .float64 : .float32)
            switch dtype {
            case .float32: try write(Float.self, paths)
            case .float64: try write(Double.self, paths)
            }
        }
    }

    private func write<S: KernelScalar>(_: S.Type, _ paths: [String]) throws {
        let summaries = try paths.map { path throws in try SegmentSummary<S>.load(from: path) }
        let gate = summaries[0].gate
        let initial = try state.map { path throws in try SegmentPaths.readState(S.self, from: path, gate: gate) } ?? nil
        let result = try SegmentPaths.compose(summaries, after: initial)
        var output = try OutputSet(self.output)
        output.add(result.c, as: "c0")
        output.add(result.n, as: "n0")
        output.add(result.m, as: "m0")
        try output.commit()
    }
}

/// Shared by `compose` and `run --after-summaries`.
enum SegmentPaths {
    static func split(_ list: String, option: String) throws -> [String] {
        let paths = list.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !paths.isEmpty, !paths.contains(where: \.isEmpty) else {
            throw CommandFailure("\(option) \(list): expected comma-separated directories, none empty")
        }
        return paths
    }

    /// The state in `path`: c0, n0, m0 or, when c0.npy is absent, c, n, m.
    static func readState<S: KernelScalar>(_: S.Type, from path: String, gate: Gate) throws -> MLSTMState<S>? {
        let directory = try ArrayDirectory(path: path)
        let names = directory.exists("c0") ? initialStateNames : ["c", "n", "m"]
        let parts = try names.map { name throws -> Tensor<S>? in
            directory.exists(name) ? try directory.read(name).tensor(as: S.self) : nil
        }
        guard parts[0] != nil || parts[1] != nil else {
            throw CommandFailure("--state \(path): no c0.npy/n0.npy (or c.npy/n.npy) found")
        }
        return try MLSTMState(c: parts[0], n: parts[1], m: parts[2], gate: gate)
    }

    /// The summaries composed in order onto `state` (nil: the default state);
    /// every summary must have the first one's gate.
    static func compose<S: KernelScalar>(_ summaries: [SegmentSummary<S>], after state: MLSTMState<S>?) throws -> MLSTMState<S> {
        var current = state
        for (index, summary) in summaries.enumerated() {
            guard summary.gate == summaries[0].gate else {
                throw CommandFailure("summary \(index + 1): its gate differs from the first summary's")
            }
            current = try Chunkwise.compose(summary, after: current)
        }
        // Not empty: split refuses an empty list.
        return current!
    }
}
