import Foundation
import Testing
import TFLA

// The code examples of the documentation (Sources/TFLA/Documentation.docc
// and README.md), run here so that they keep compiling and working. Each
// example's lines appear in these tests exactly as in the documentation
// (up to indentation), which `documentationExamplesAreTested` checks; the
// assertions after each example check what it claims.

/// A tensor of `shape` with values uniform in `center ± 1`: the stand-in the
/// examples use for a layer's projections.
func randomTensor(_ shape: [Int], around center: Float = 0) throws -> Tensor<Float> {
    let count = shape.reduce(1, *)
    return try Tensor(shape: shape, scalars: (0..<count).map { _ in center + .random(in: -1...1) })
}

/// Random q, k, v, i and f for `shape`, forget gates near 1 (f̃ ≈ 3).
func randomInputs(_ shape: ProblemShape) throws -> MLSTMInputs<Float> {
    MLSTMInputs(
        q: try randomTensor(shape.queryShape), k: try randomTensor(shape.queryShape),
        v: try randomTensor(shape.valueShape),
        i: try randomTensor(shape.gateShape), f: try randomTensor(shape.gateShape, around: 3))
}

@Suite("Documentation examples")
struct DocExamplesTests {
    /// A fresh directory, removed by the caller.
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "tfla-example-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func forward() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 128, keyDim: 16, valueDim: 32)
        let inputs = try randomInputs(shape)
        let output = try Chunkwise.forward(inputs, gate: .exponential)
        // output.h: (1, 2, 128, 32); output.state: C, n and m after the last token

        #expect(output.h.shape == [1, 2, 128, 32])
        let reference = try Reference.recurrent(inputs, gate: .exponential)
        #expect(relativeError(output.h, reference.h) < 1e-4)
        #expect(relativeError(output.state.c, reference.state.c) < 1e-4)
    }

    @Test func gradients() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 256, keyDim: 16, valueDim: 32)
        let inputs = try randomInputs(shape)
        let dh = try randomTensor(shape.valueShape)  // ∂loss/∂h, from the layers above
        let result = try Chunkwise.gradients(inputs, gate: .exponential, dh: dh)
        let (dq, dk, dv) = (result.gradients.dq, result.gradients.dk, result.gradients.dv)
        let (di, df) = (result.gradients.di, result.gradients.df)

        // The same in two calls, the forward's chunk states kept in between:
        let forward = try Chunkwise.trainingForward(inputs, gate: .exponential)
        let gradients = try Chunkwise.backward(inputs, gate: .exponential, forward: forward, dh: dh)

        #expect(dq.shape == shape.queryShape && dk.shape == shape.queryShape && dv.shape == shape.valueShape)
        #expect(di.shape == shape.gateShape && df.shape == shape.gateShape)
        #expect(gradients.dq == dq && gradients.dv == dv && gradients.df == df)
        let wide = MLSTMInputs<Double>(q: inputs.q.converted(), k: inputs.k.converted(), v: inputs.v.converted(),
                                       i: inputs.i.converted(), f: inputs.f.converted())
        let reference = try Reference.recurrentBackward(wide, gate: .exponential, dh: dh.converted())
        #expect(relativeError(dq, reference.dq) < 5e-3 && relativeError(df, reference.df) < 5e-3)
    }

    @Test func generation() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = try InferenceState<Float>(batch: 1, heads: 2, keyDim: 16, valueDim: 32, gate: .exponential)
        let prompt = try randomInputs(ProblemShape(batch: 1, heads: 2, sequence: 100, keyDim: 16, valueDim: 32))
        let promptOutputs = try state.prefill(prompt)  // (1, 2, 100, 32)
        var h = Tensor<Float>(shape: [1, 2, 32])      // one token's output, reused by every step
        for _ in 0..<10 {
            // The next token's projections: q, k (1, 2, 16), v (1, 2, 32), i, f (1, 2, 1).
            let q = try randomTensor([1, 2, 16]), k = try randomTensor([1, 2, 16])
            let v = try randomTensor([1, 2, 32])
            let i = try randomTensor([1, 2, 1]), f = try randomTensor([1, 2, 1], around: 3)
            try state.step(q: q, k: k, v: v, i: i, f: f, into: &h)
        }
        let checkpoint = state.snapshot()  // a point to roll back to: state.restore(checkpoint)
        try state.save(to: directory)      // c.npy, n.npy, m.npy
        let resumed = try InferenceState<Float>.load(from: directory, gate: .exponential)

        #expect(promptOutputs == (try Chunkwise.forward(prompt, gate: .exponential)).h)
        #expect(state.tokens == 110 && h.scalars.allSatisfy(\.isFinite))
        #expect(resumed.snapshot().c == checkpoint.c && resumed.snapshot().m == checkpoint.m)
    }

    @Test func summaryAcrossProcesses() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 300, keyDim: 16, valueDim: 32)
        let sequence = try randomInputs(shape)
        let firstPart = try sequence.sequenceSlice(0..<200), secondPart = try sequence.sequenceSlice(200..<300)

        // Process A: summarizes the first part of a long sequence.
        let summary = try Chunkwise.summary(of: firstPart, gate: .exponential)
        try summary.save(to: directory)

        // Process B: the state after the first part, from its summary alone.
        let loaded = try SegmentSummary<Float>.load(from: directory)
        let incoming = try Chunkwise.compose(loaded)  // after: nil, the zero state
        let rest = try Chunkwise.forward(secondPart, gate: .exponential, initialState: incoming)

        let whole = try Chunkwise.forward(sequence, gate: .exponential)
        #expect(relativeError(rest.h, try whole.h.slicing(axis: 2, 200..<300)) < 1e-4)
        #expect(relativeError(rest.state.c, whole.state.c) < 1e-4)
    }

    /// README.md, "Using the library": a forward from flat arrays, the
    /// float64 reference, and gradients.
    @Test func readmeForwardFromArrays() throws {
        let values = { (count: Int, center: Float) in (0..<count).map { _ in center + Float.random(in: -1...1) } }
        let (q, k, v) = (values(4 * 1024 * 64, 0), values(4 * 1024 * 64, 0), values(4 * 1024 * 128, 0))
        let (inputGate, forgetGate, upstream) = (values(4 * 1024, 0), values(4 * 1024, 3), values(4 * 1024 * 128, 0))
        let shape = ProblemShape(batch: 1, heads: 4, sequence: 1024, keyDim: 64, valueDim: 128)
        let inputs = try MLSTMInputs<Float>(
            q: Tensor(shape: shape.queryShape, scalars: q),
            k: Tensor(shape: shape.queryShape, scalars: k),
            v: Tensor(shape: shape.valueShape, scalars: v),
            i: Tensor(shape: shape.gateShape, scalars: inputGate),
            f: Tensor(shape: shape.gateShape, scalars: forgetGate))
        let out = try Chunkwise.forward(inputs, gate: .exponential,
                                        options: ChunkwiseOptions(chunkSize: 128))
        print(out.h.shape, out.state.c.shape)  // [1, 4, 1024, 128] [1, 4, 64, 128]

        // Float64 ground truth, same conventions as mlstm-kernels:
        let x64 = MLSTMInputs<Double>(q: inputs.q.converted(), k: inputs.k.converted(),
                                      v: inputs.v.converted(), i: inputs.i.converted(),
                                      f: inputs.f.converted())
        let exact = try Reference.recurrent(x64, gate: .exponential)

        #expect(out.h.shape == [1, 4, 1024, 128] && out.state.c.shape == [1, 4, 64, 128])
        #expect(relativeError(out.h, exact.h) < 1e-4)

        let dh = try Tensor<Float>(shape: shape.valueShape, scalars: upstream)  // gradient of h
        let result = try Chunkwise.gradients(inputs, gate: .exponential, dh: dh,
                                             mode: .exact)   // or .reference
        print(result.gradients.dq.shape, result.gradients.df.shape, result.output.h.shape)

        #expect(result.gradients.dq.shape == shape.queryShape && result.gradients.df.shape == shape.gateShape)
        #expect(result.output.h == (try Chunkwise.forward(inputs, gate: .exponential, options: .training)).h)
    }

    /// README.md, bfloat16 end to end: bfloat16 tensors in, bfloat16 h out.
    @Test func readmeBFloat16Forward() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 200, keyDim: 32, valueDim: 48)
        let x = try randomInputs(shape)
        let (q16, k16, v16, i16, f16): (Tensor<BFloat16>, Tensor<BFloat16>, Tensor<BFloat16>, Tensor<BFloat16>, Tensor<BFloat16>) =
            (x.q.converted(), x.k.converted(), x.v.converted(), x.i.converted(), x.f.converted())
        var options = ChunkwiseOptions()
        options.precision = .bf16Products
        let stored = MLSTMInputs<BFloat16>(q: q16, k: k16, v: v16, i: i16, f: f16)
        var h16 = Tensor<BFloat16>(shape: stored.v.shape)
        let final = try Chunkwise.forward(storedAs: stored, gate: .exponential, options: options, into: &h16)
        // Against the float32 forward of the same (widened) values.
        let widened = MLSTMInputs<Float>(q: q16.converted(), k: k16.converted(), v: v16.converted(),
                                         i: i16.converted(), f: f16.converted())
        let expected = try Chunkwise.forward(widened, gate: .exponential)
        let scale = expected.h.scalars.map { abs($0) }.max() ?? 1
        let worst = zip(h16.scalars, expected.h.scalars).map { abs($0.floatValue - $1) }.max() ?? 0
        #expect(worst <= 1e-2 * scale, "\(worst) of \(scale)")
        #expect(final.m.scalars == expected.state.m.scalars)
    }

    /// Every ```swift block of the DocC catalog and of README.md, but for
    /// the package manifest's lines, appears in this file (indentation
    /// and blank lines aside), so that no example is shown without being
    /// run here.
    @Test func documentationExamplesAreTested() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let tests = try String(contentsOf: URL(fileURLWithPath: #filePath), encoding: .utf8)
        let testLines = tests.split(separator: "\n").map(Self.trimmed).filter { !$0.isEmpty }
        let catalog = root.appendingPathComponent("Sources/TFLA/Documentation.docc")
        let pages = try FileManager.default.contentsOfDirectory(atPath: catalog.path)
            .filter { $0.hasSuffix(".md") }.map { catalog.appendingPathComponent($0) }
            + [root.appendingPathComponent("README.md")]
        var checked = 0
        for page in pages {
            for block in Self.swiftBlocks(try String(contentsOf: page, encoding: .utf8))
            where !block.contains(where: { $0.contains(".package(") || $0.contains(".product(") }) {
                let lines = block.map(Self.trimmed).filter { !$0.isEmpty && $0 != "import TFLA" }
                let found = (0...max(0, testLines.count - lines.count)).contains { start in
                    Array(testLines[start..<min(testLines.count, start + lines.count)]) == lines
                }
                #expect(found, "\(page.lastPathComponent): an example not run by DocExamplesTests:\n\(block.joined(separator: "\n"))")
                checked += 1
            }
        }
        #expect(checked >= 4)
    }

    /// The lines of each ```swift fenced block.
    static func swiftBlocks(_ text: String) -> [[String]] {
        var blocks: [[String]] = [], current: [String]?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let fence = line.trimmingCharacters(in: .whitespaces)
            if current == nil, fence == "```swift" {
                current = []
            } else if current != nil, fence == "```" {
                blocks.append(current!)
                current = nil
            } else {
                current?.append(line)
            }
        }
        return blocks
    }

    static func trimmed(_ line: Substring) -> String { line.trimmingCharacters(in: .whitespaces) }
    static func trimmed(_ line: String) -> String { line.trimmingCharacters(in: .whitespaces) }
}
