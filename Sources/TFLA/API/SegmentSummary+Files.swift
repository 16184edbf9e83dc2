import Foundation

// A summary built from its parts (validated), and saved to or loaded from a
// directory of `.npy` files, so that it can cross a process boundary: one
// process summarizes a segment, another composes the summaries into its
// incoming state (`Documentation.docc/SegmentSummary.md`).

extension SegmentSummary {
    /// A summary from its parts, checked as ``Chunkwise/compose(_:after:)``
    /// needs them.
    ///
    /// The parts are those of a summary made by
    /// ``Chunkwise/summary(of:gate:options:)`` (or read back by
    /// ``load(from:)``): with B batch entries, NH heads and head dimensions
    /// DQK and DHV,
    ///
    /// - `c`: ΔC `(B, NH, DQK, DHV)`, finite;
    /// - `n`: Δn `(B, NH, DQK)`, finite;
    /// - `m`: Δm `(B, NH)`, not NaN and not +∞ (−∞ is the empty state's);
    ///   all zeros for the sigmoid gate, whose states carry no stabilizer;
    /// - `logDecay`: F `(B, NH)`, the segment's summed log forget gates:
    ///   each ≤ 0 and not NaN (−∞ for a segment that forgets everything).
    ///
    /// - Throws: ``TFLAError/shapeMismatch(argument:expected:given:)``,
    ///   ``TFLAError/rankMismatch(argument:expectedRank:given:)`` or
    ///   ``TFLAError/invalidShape(argument:shape:reason:)`` naming the part
    ///   whose shape does not fit c's;
    ///   ``TFLAError/nonFiniteValue(argument:index:value:requirement:)`` or
    ///   ``TFLAError/invalidParameter(name:value:requirement:)`` naming the
    ///   part and the first value out of range.
    public init(
        gate: Gate, c: Tensor<Scalar>, n: Tensor<Scalar>, m: Tensor<Double>, logDecay: Tensor<Double>
    ) throws(TFLAError) {
        try Validation.requireRank(c, 4, "c")
        try Validation.requireNonEmpty(c, "c")
        let (batch, heads, keyDim) = (c.shape[0], c.shape[1], c.shape[2])
        try Validation.requireShape(n, [batch, heads, keyDim], "n")
        try Validation.requireShape(m, [batch, heads], "m")
        try Validation.requireShape(logDecay, [batch, heads], "logDecay")
        try Validation.requireFinite(c, "c")
        try Validation.requireFinite(n, "n")
        try Self.requireValues(m, "m", gate.isStabilized ? "not NaN and not +∞" : "0 for the sigmoid gate") {
            gate.isStabilized ? !$0.isNaN && $0 != .infinity : $0 == 0
        }
        try Self.requireValues(logDecay, "logDecay", "≤ 0 and not NaN (a sum of log forget gates)") { $0 <= 0 }
        self.init(gate: gate, logDecay: logDecay, c: c, n: n, m: m)
    }

    /// Throws naming the first element of `values` that `isValid` refuses.
    private static func requireValues(
        _ values: Tensor<Double>, _ name: String, _ requirement: String, _ isValid: (Double) -> Bool
    ) throws(TFLAError) {
        let refused = values.withUnsafeBufferPointer { $0.firstIndex { !isValid($0) } }
        guard let refused else { return }
        let value = values.withUnsafeBufferPointer { $0[refused] }
        let index = ValueCheck.position(of: refused, in: values.shape)
        guard value.isFinite else {
            throw .nonFiniteValue(argument: name, index: index, value: ValueCheck.describe(value), requirement: requirement)
        }
        throw .invalidParameter(name: "\(name)\(index)", value: "\(value)", requirement: requirement)
    }
}

extension SegmentSummary where Scalar: NPYScalar {
    /// The files of a saved summary: `c.npy`, `n.npy`, `m.npy`,
    /// `logDecay.npy` and the gate's name in `gate.txt`.
    public static var fileNames: [String] { ["c.npy", "n.npy", "m.npy", "logDecay.npy", "gate.txt"] }

    /// Writes the summary into `directory` (which must exist): c and n in
    /// the scalar type, m and logDecay in float64 (``fileNames``), and the
    /// gate (`exponential`, `sigmoid` or `sigmoid-unnormalized`).
    ///
    /// - Throws: ``NPYError`` naming the file that could not be written.
    public func save(to directory: String) throws(NPYError) {
        try NPY.write(c, to: Self.file("c.npy", in: directory))
        try NPY.write(n, to: Self.file("n.npy", in: directory))
        try NPY.write(m, to: Self.file("m.npy", in: directory))
        try NPY.write(logDecay, to: Self.file("logDecay.npy", in: directory))
        let path = Self.file("gate.txt", in: directory)
        do {
            try (Self.gateName(gate) + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            throw NPYError(path: path, problem: .unwritable("\(error)"))
        }
    }

    /// Reads a summary written by ``save(to:)`` and checks it as
    /// ``init(gate:c:n:m:logDecay:)`` does.
    ///
    /// - Throws: ``NPYError``: a file that cannot be read (its path and
    ///   problem; an unknown gate name in `gate.txt` is
    ///   ``NPYError/Problem/unreadable(_:)``), or, for arrays that were read
    ///   but do not form a valid summary, the directory's path and
    ///   ``NPYError/Problem/invalidState(_:)`` holding the check's
    ///   ``TFLAError``.
    public static func load(from directory: String) throws(NPYError) -> SegmentSummary {
        let gatePath = file("gate.txt", in: directory)
        let text: String
        do {
            text = try String(contentsOfFile: gatePath, encoding: .utf8)
        } catch {
            throw NPYError(path: gatePath, problem: .unreadable("\(error)"))
        }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let gate = gate(named: name) else {
            throw NPYError(path: gatePath, problem: .unreadable(
                "unknown gate '\(name)'; expected exponential, sigmoid or sigmoid-unnormalized"))
        }
        let c = try NPY.read(contentsOf: file("c.npy", in: directory), as: Scalar.self)
        let n = try NPY.read(contentsOf: file("n.npy", in: directory), as: Scalar.self)
        let m = try NPY.read(contentsOf: file("m.npy", in: directory), as: Double.self)
        let logDecay = try NPY.read(contentsOf: file("logDecay.npy", in: directory), as: Double.self)
        do {
            return try SegmentSummary(gate: gate, c: c, n: n, m: m, logDecay: logDecay)
        } catch {
            throw NPYError(path: directory, problem: .invalidState(error))
        }
    }

    /// The name `gate.txt` holds for a gate.
    static func gateName(_ gate: Gate) -> String {
        switch gate {
        case .exponential: return "exponential"
        case let .sigmoid(normalize): return normalize ? "sigmoid" : "sigmoid-unnormalized"
        }
    }

    /// The gate of a name that ``gateName(_:)`` gives; nil for any other.
    static func gate(named name: String) -> Gate? {
        [Gate.exponential, .sigmoid(normalize: true), .sigmoid(normalize: false)].first { gateName($0) == name }
    }

    private static func file(_ name: String, in directory: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }
}
