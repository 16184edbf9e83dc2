import ArgumentParser
import TFLA

struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "One generation step on .npy inputs: h and the next state.",
        discussion: """
        Reads q, k (B,NH,DQK), v (B,NH,DHV), i, f (B,NH,1) and the state c0 (B,NH,DQK,DHV), \
        n0 (B,NH,DQK), m0 (B,NH,1) from --in; writes h.npy (B,NH,DHV) and c.npy, n.npy, m.npy \
        to --out.
        """)

    @OptionGroup var gateOptions: GateOptions
    @OptionGroup var io: IOOptions

    func run() throws {
        try reportingFailures {
            try io.validateRepeats()
            let gate = try gateOptions.resolved()
            let directory = ArrayDirectory(path: io.input)
            let arrays = try ["q", "k", "v", "i", "f", "c0", "n0", "m0"].map { ($0, try directory.read($0)) }
            switch try ArrayDirectory.computeDType(arrays, requested: io.dtype, directory: directory) {
            case .float32: try compute(Float.self, arrays, gate: gate)
            case .float64: try compute(Double.self, arrays, gate: gate)
            }
        }
    }

    private func compute<S: KernelScalar>(_: S.Type, _ arrays: [(String, NPYArray)], gate: Gate) throws {
        let x = arrays.map { $0.1.tensor(as: S.self) }
        let state = MLSTMState(c: x[5], n: x[6], m: x[7])
        let eps = S(gateOptions.eps)
        let output = try OutputDirectory(io.output)
        let result = try timed(repeats: io.repeats) {
            try Reference.step(q: x[0], k: x[1], v: x[2], i: x[3], f: x[4], state: state, gate: gate, eps: eps)
        }
        try output.write(result.h, as: "h")
        try output.write(result.state.c, as: "c")
        try output.write(result.state.n, as: "n")
        try output.write(result.state.m, as: "m")
    }
}
