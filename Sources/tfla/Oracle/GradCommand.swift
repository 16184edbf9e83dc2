import ArgumentParser
import TFLA

struct GradCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grad",
        abstract: "Gradients of a forward kernel on .npy inputs.",
        discussion: """
        Reads the inputs of 'tfla run' plus dh.npy (B,NH,S,DHV) and, if present, dc.npy, \
        dn.npy, dm.npy (upstream gradients of the final state). Writes dq, dk, dv, di, df \
        and, when an initial state was given, dc0, dn0, dm0. Available now: --kernel \
        recurrent --mode exact (the true gradient, through the normalizer and m).
        """)

    @Option(help: "Kernel: recurrent (chunkwise and parallel gradients are not available yet).")
    var kernel: KernelChoice = .recurrent
    @Option(help: "exact (the true gradient) or reference (the reference package's convention; not available yet).")
    var mode = "exact"
    @OptionGroup var gateOptions: GateOptions
    @OptionGroup var io: IOOptions

    func run() throws {
        try reportingFailures {
            try io.validateRepeats()
            guard mode == "exact" || mode == "reference" else { throw CommandFailure("--mode must be exact or reference, got '\(mode)'") }
            guard kernel == .recurrent, mode == "exact" else {
                throw CommandFailure("--kernel \(kernel.rawValue) --mode \(mode): not available yet; use --kernel recurrent --mode exact")
            }
            let gate = try gateOptions.resolved()
            let directory = ArrayDirectory(path: io.input)
            let inputs = try ["q", "k", "v", "i", "f", "dh"].map { ($0, try directory.read($0)) }
            let optional = try ["c0", "n0", "m0", "dc", "dn", "dm"].compactMap { name in try directory.readIfPresent(name).map { (name, $0) } }
            switch try ArrayDirectory.computeDType(inputs + optional, requested: io.dtype, directory: directory) {
            case .float32: try compute(Float.self, inputs, optional, gate: gate)
            case .float64: try compute(Double.self, inputs, optional, gate: gate)
            }
        }
    }

    private func compute<S: KernelScalar>(_: S.Type, _ inputs: [(String, NPYArray)], _ optional: [(String, NPYArray)], gate: Gate) throws {
        let x = inputs.map { $0.1.tensor(as: S.self) }
        let parts = Dictionary(uniqueKeysWithValues: optional.map { ($0.0, $0.1.tensor(as: S.self)) })
        let initial = try MLSTMState.optional(c: parts["c0"], n: parts["n0"], m: parts["m0"])
        let given = ["dc", "dn", "dm"].filter { parts[$0] != nil }
        if !given.isEmpty && given.count < 3 {
            throw CommandFailure("final-state gradients: \(given.joined(separator: ", ")) given; give dc, dn and dm together")
        }
        let dState = given.isEmpty ? nil : MLSTMState(c: parts["dc"]!, n: parts["dn"]!, m: parts["dm"]!)
        let eps = S(gateOptions.eps)
        let output = try OutputDirectory(io.output)
        let g = try timed(repeats: io.repeats) {
            try Reference.recurrentBackward(MLSTMInputs(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4]),
                                            gate: gate, initialState: initial, eps: eps, dh: x[5], dState: dState)
        }
        for (name, tensor) in [("dq", g.dq), ("dk", g.dk), ("dv", g.dv), ("di", g.di), ("df", g.df)] {
            try output.write(tensor, as: name)
        }
        if initial != nil {
            for (name, tensor) in [("dc0", g.dc0), ("dn0", g.dn0), ("dm0", g.dm0)] { try output.write(tensor, as: name) }
        }
    }
}
