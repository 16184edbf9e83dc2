import Foundation
import Testing
import TFLA
import TFLATestSupport

/// `SegmentSummary` built from its parts and saved to / loaded from a
/// directory: the round trip, the refusal of invalid parts, and the
/// split-sequence scenario (a summary written by one side — another process
/// on Linux — read by the other, composed, and the forward from the
/// composed state equal to the whole-sequence forward).
@Suite("Segment summary files")
struct SegmentSummaryFilesTests {
    static let shape = ProblemShape(batch: 2, heads: 3, sequence: 40, keyDim: 5, valueDim: 7)
    static let gates: [Gate] = [.exponential, .sigmoid(normalize: true), .sigmoid(normalize: false)]

    /// A fresh directory, removed by the caller.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "tfla-summary-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// save then load gives back the same parts and gate, bit for bit, in
    /// both scalar types.
    @Test(arguments: gates)
    func roundTrip(gate: Gate) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let x = MLSTMInputs<Float>.random(Self.shape, seed: 41)
        let summary = try Chunkwise.summary(of: x, gate: gate)
        try summary.save(to: directory)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory))
            == Set(SegmentSummary<Float>.fileNames))
        let loaded = try SegmentSummary<Float>.load(from: directory)
        #expect(loaded.gate == gate)
        #expect(loaded.c == summary.c && loaded.n == summary.n)
        #expect(loaded.m == summary.m && loaded.logDecay == summary.logDecay)

        let wide = try Chunkwise.summary(of: MLSTMInputs<Double>.random(Self.shape, seed: 42), gate: gate)
        try wide.save(to: directory)
        let wideLoaded = try SegmentSummary<Double>.load(from: directory)
        #expect(wideLoaded.c == wide.c && wideLoaded.m == wide.m && wideLoaded.gate == gate)
    }

    /// The validated initializer accepts a kernel's summary and composes
    /// to the same state.
    @Test func initializerAcceptsAKernelSummary() throws {
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 43)
        let summary = try Chunkwise.summary(of: x, gate: .exponential)
        let rebuilt = try SegmentSummary(gate: .exponential, c: summary.c, n: summary.n, m: summary.m,
                                         logDecay: summary.logDecay)
        let state = try Chunkwise.compose(rebuilt)
        #expect(state.c == (try Chunkwise.compose(summary)).c)
    }

    /// Each kind of bad part is refused, naming the part.
    @Test func refusesBadParts() throws {
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 44)
        let s = try Chunkwise.summary(of: x, gate: .exponential)
        let pair = [Self.shape.batch, Self.shape.heads]
        #expect(throws: TFLAError.shapeMismatch(argument: "n", expected: Self.shape.normalizerShape, given: [2, 3, 4])) {
            try SegmentSummary(gate: .exponential, c: s.c, n: Tensor(shape: [2, 3, 4]), m: s.m, logDecay: s.logDecay)
        }
        #expect(throws: TFLAError.shapeMismatch(argument: "m", expected: pair, given: [2, 3, 1])) {
            try SegmentSummary(gate: .exponential, c: s.c, n: s.n, m: Tensor(shape: [2, 3, 1]), logDecay: s.logDecay)
        }
        #expect(throws: TFLAError.rankMismatch(argument: "c", expectedRank: 4, given: [2, 3, 35])) {
            try SegmentSummary(gate: .exponential, c: Tensor<Double>(shape: [2, 3, 35]), n: s.n, m: s.m, logDecay: s.logDecay)
        }
        var c = s.c
        c.withUnsafeMutableBufferPointer { $0[7] = .nan }
        #expect(throws: TFLAError.nonFiniteValue(argument: "c", index: [0, 0, 1, 0], value: "nan", requirement: "must be finite")) {
            try SegmentSummary(gate: .exponential, c: c, n: s.n, m: s.m, logDecay: s.logDecay)
        }
        var decay = s.logDecay
        decay.withUnsafeMutableBufferPointer { $0[4] = 0.5 }
        #expect(throws: TFLAError.invalidParameter(name: "logDecay[1, 1]", value: "0.5",
                                                   requirement: "≤ 0 and not NaN (a sum of log forget gates)")) {
            try SegmentSummary(gate: .exponential, c: s.c, n: s.n, m: s.m, logDecay: decay)
        }
        // The sigmoid gate's summaries have no stabilizer: m must be zero.
        let sig = try Chunkwise.summary(of: x, gate: .sigmoid(normalize: true))
        #expect(sig.m.scalars.allSatisfy { $0 == 0 })
        #expect(throws: TFLAError.self) {
            try SegmentSummary(gate: .sigmoid(normalize: true), c: sig.c, n: sig.n, m: s.m, logDecay: sig.logDecay)
        }
        // An exponential summary's m may be −∞ (the empty state's), never +∞.
        var m = s.m
        m.withUnsafeMutableBufferPointer { $0[0] = -.infinity }
        _ = try SegmentSummary(gate: .exponential, c: s.c, n: s.n, m: m, logDecay: s.logDecay)
        m.withUnsafeMutableBufferPointer { $0[0] = .infinity }
        #expect(throws: TFLAError.self) {
            try SegmentSummary(gate: .exponential, c: s.c, n: s.n, m: m, logDecay: s.logDecay)
        }
    }

    /// Files that do not form a summary are refused by load: a missing
    /// file, an unknown gate, and arrays that disagree.
    @Test func loadRefusesBadFiles() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let s = try Chunkwise.summary(of: MLSTMInputs<Float>.random(Self.shape, seed: 45), gate: .exponential)
        try s.save(to: directory)
        let gatePath = (directory as NSString).appendingPathComponent("gate.txt")
        try "tanh\n".write(toFile: gatePath, atomically: true, encoding: .utf8)
        let unknown = #expect(throws: NPYError.self) { try SegmentSummary<Float>.load(from: directory) }
        #expect(unknown?.path == gatePath)
        try s.save(to: directory)
        try NPY.write(Tensor<Float>(shape: [2, 3, 4]), to: (directory as NSString).appendingPathComponent("n.npy"))
        let mismatched = #expect(throws: NPYError.self) { try SegmentSummary<Float>.load(from: directory) }
        #expect(mismatched?.problem == .invalidState(
            .shapeMismatch(argument: "n", expected: Self.shape.normalizerShape, given: [2, 3, 4])))
        // Float files are not read as Double.
        try s.save(to: directory)
        #expect(throws: NPYError.self) { try SegmentSummary<Double>.load(from: directory) }
        try FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent("c.npy"))
        #expect(throws: NPYError.self) { try SegmentSummary<Float>.load(from: directory) }
    }

    /// The first half of a sequence is summarized and saved by one side
    /// (which keeps nothing else); the other side loads the summary,
    /// composes it onto the sequence's initial state and runs the second
    /// half from the result: its outputs and final state are the
    /// whole-sequence forward's.
    @Test(arguments: gates)
    func splitSequenceAcrossTwoSides(gate: Gate) throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let x = MLSTMInputs<Double>.random(Self.shape, seed: 46)
        let initial = try Chunkwise.forward(MLSTMInputs<Double>.random(Self.shape, seed: 47), gate: gate).state
        let split = 17
        // Writer: only the first half's inputs.
        do {
            let first = try x.sequenceSlice(0..<split)
            try Chunkwise.summary(of: first, gate: gate, options: ChunkwiseOptions(chunkSize: 8)).save(to: directory)
        }
        // Reader: the saved summary, the initial state and the second half.
        let summary = try SegmentSummary<Double>.load(from: directory)
        let incoming = try Chunkwise.compose(summary, after: initial)
        let second = try Chunkwise.forward(try x.sequenceSlice(split..<Self.shape.sequence), gate: gate,
                                           initialState: incoming)
        let whole = try Chunkwise.forward(x, gate: gate, initialState: initial)
        let expected = try whole.h.slicing(axis: 2, split..<Self.shape.sequence)
        #expect(relativeError(second.h, expected) < 1e-12)
        #expect(relativeError(second.state.c, whole.state.c) < 1e-12)
        #expect(relativeError(second.state.n, whole.state.n) < 1e-12)
        #expect(relativeError(second.state.m, whole.state.m) < 1e-12)
    }

    /// The environment variable that makes ``summaryWriter()`` run: the
    /// directory it writes into.
    static let writerVariable = "TFLA_SUMMARY_WRITER_DIRECTORY"

    /// The first half of the sequence of ``summaryCrossesAProcessBoundary()``.
    static func firstHalf() throws -> MLSTMInputs<Double> {
        try MLSTMInputs<Double>.random(shape, seed: 48).sequenceSlice(0..<20)
    }

    /// The writer process of ``summaryCrossesAProcessBoundary()``: runs only
    /// when that test starts this test program with ``writerVariable`` set.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[writerVariable] != nil))
    func summaryWriter() throws {
        let directory = try #require(ProcessInfo.processInfo.environment[Self.writerVariable])
        try Chunkwise.summary(of: try Self.firstHalf(), gate: .exponential).save(to: directory)
    }

    #if os(Linux)
    /// A summary written by another process (this test program, running
    /// only ``summaryWriter()``) is loaded and composed here, and the
    /// forward of the second half from the composed state is the
    /// whole-sequence forward's second half.
    @Test func summaryCrossesAProcessBoundary() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        writer.arguments = ["--testing-library", "swift-testing", "--filter", "summaryWriter"]
        writer.environment = ProcessInfo.processInfo.environment.merging([Self.writerVariable: directory]) { $1 }
        writer.standardOutput = FileHandle.nullDevice
        writer.standardError = FileHandle.nullDevice
        try writer.run()
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: directory)) == Set(SegmentSummary<Double>.fileNames))

        let x = MLSTMInputs<Double>.random(Self.shape, seed: 48)
        #expect(try Self.firstHalf().q == x.sequenceSlice(0..<20).q)
        let incoming = try Chunkwise.compose(try SegmentSummary<Double>.load(from: directory))
        let second = try Chunkwise.forward(try x.sequenceSlice(20..<Self.shape.sequence), gate: .exponential,
                                           initialState: incoming)
        let whole = try Chunkwise.forward(x, gate: .exponential)
        #expect(relativeError(second.h, try whole.h.slicing(axis: 2, 20..<Self.shape.sequence)) < 1e-12)
        #expect(relativeError(second.state.c, whole.state.c) < 1e-12)
        #expect(relativeError(second.state.m, whole.state.m) < 1e-12)
    }
    #endif
}
