import ArgumentParser
import Foundation
import TFLA

/// A small mLSTM layer over a long sequence, processed block by block with
/// an `InferenceState`, so memory stays flat however long the sequence.
struct LayerDemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layer-demo",
        abstract: "Run an mLSTM layer (projections, gates, TFLA, head norm, output projection) over a long sequence.",
        discussion: """
        Random seeded weights and inputs. The sequence is consumed in blocks: each block is \
        prefilled into the layer's recurrent state with the chunkwise kernel, then a few tokens \
        are generated with the step kernel. Prints throughput and resident memory per block.
        """)

    @Option(help: "Sequence length.") var tokens = 65_536
    @Option(help: "Tokens per prefill block.") var block = 4096
    @Option(help: "Model width.") var model = 512
    @Option(help: "Heads.") var heads = 4
    @Option(help: "Query/key head dimension.") var dqk = 64
    @Option(help: "Value head dimension (heads × dhv is the layer's inner width).") var dhv = 128
    @Option(help: "Tokens generated step by step at the end.") var generate = 32
    @Option(help: "Worker threads (default: all available cores).") var threads: Int?

    func run() throws {
        guard [tokens, block, model, heads, dqk, dhv].allSatisfy({ $0 >= 1 }), generate >= 0 else {
            throw fail("--tokens, --block, --model, --heads, --dqk and --dhv must be at least 1")
        }
        do {
            try demo()
        } catch let error as TFLAError {
            throw fail(error.description)
        }
    }

    private func demo() throws {
        let layer = MLSTMLayer(model: model, heads: heads, keyDim: dqk, valueDim: dhv, seed: 7)
        let state = try InferenceState<Float>(batch: 1, heads: heads, keyDim: dqk, valueDim: dhv, gate: .exponential)
        state.threads = threads
        var rng = SplitMix64(seed: 99)
        print("layer: d_model=\(model), NH=\(heads), DQK=\(dqk), DHV=\(dhv), float32; \(tokens) tokens in blocks of \(block)")
        print("BLAS:  \(BLAS.configuration)")
        if let warning = BLAS.configuration.forcedWeakCoreWarning { print(warning) }
        print("   tokens     tokens/s   resident MB")
        var done = 0
        var checksum = 0.0
        let start = Stopwatch.now()
        while done < tokens {
            let count = min(block, tokens - done)
            let x = (0..<(count * model)).map { _ in Float(rng.normal()) }
            let begin = Stopwatch.now()
            let y = try layer.forward(x, tokens: count, state: state)
            let seconds = Stopwatch.now() - begin
            checksum += Double(y.reduce(0, +))
            done += count
            print(String(format: "%9d %12.0f %13.1f", done, Double(count) / seconds, Self.residentMegabytes()))
        }
        let total = Stopwatch.now() - start
        print(String(format: "prefill: %d tokens in %.2f s, %.0f tokens/s (output checksum %.4g)",
                     tokens, total, Double(tokens) / total, checksum))
        if generate > 0 {
            let begin = Stopwatch.now()
            for _ in 0..<generate {
                let x = (0..<model).map { _ in Float(rng.normal()) }
                _ = try layer.forward(x, tokens: 1, state: state)
            }
            let perToken = (Stopwatch.now() - begin) / Double(generate)
            print(String(format: "generate: %d tokens, %.0f µs/token (projections + step), resident %.1f MB",
                         generate, perToken * 1e6, Self.residentMegabytes()))
        }
    }

    /// Current resident set size, from /proc/self/statm.
    static func residentMegabytes() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return .nan }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1e6
    }
}

/// x (T × d) → q, k, v, gates per head → mLSTM → per-head layer norm →
/// output projection (T × d).
struct MLSTMLayer {
    let model, heads, keyDim, valueDim: Int
    let wq, wk, wv, wi, wf, wo: [Float]

    init(model: Int, heads: Int, keyDim: Int, valueDim: Int, seed: UInt64) {
        (self.model, self.heads, self.keyDim, self.valueDim) = (model, heads, keyDim, valueDim)
        var rng = SplitMix64(seed: seed)
        func weights(_ rows: Int, _ columns: Int, scale: Double) -> [Float] {
            (0..<(rows * columns)).map { _ in Float(rng.normal() * scale) }
        }
        let s = 1 / Double(model).squareRoot()
        wq = weights(model, heads * keyDim, scale: s)
        wk = weights(model, heads * keyDim, scale: s)
        wv = weights(model, heads * valueDim, scale: s)
        wi = weights(model, heads, scale: s)
        wf = weights(model, heads, scale: s)
        wo = weights(heads * valueDim, model, scale: 1 / Double(heads * valueDim).squareRoot())
    }

    /// y = layer(x) for `tokens` rows, advancing `state`.
    func forward(_ x: [Float], tokens t: Int, state: InferenceState<Float>) throws -> [Float] {
        func project(_ w: [Float], _ width: Int) -> [Float] {
            var out = [Float](repeating: 0, count: t * width)
            out.withUnsafeMutableBufferPointer { o in
                Float.gemm(transposeA: false, transposeB: false, m: t, n: width, k: model,
                           alpha: 1, a: x, lda: model, b: w, ldb: width, beta: 0, c: o.baseAddress!, ldc: width)
            }
            return out
        }
        // (T, NH·D) → (1, NH, T, D)
        func headsFirst(_ a: [Float], _ d: Int) throws -> Tensor<Float> {
            var out = [Float](repeating: 0, count: a.count)
            for token in 0..<t {
                for head in 0..<heads {
                    for j in 0..<d { out[(head * t + token) * d + j] = a[(token * heads + head) * d + j] }
                }
            }
            return try Tensor(shape: [1, heads, t, d], scalars: out)
        }
        let q = try headsFirst(project(wq, heads * keyDim), keyDim)
        let k = try headsFirst(project(wk, heads * keyDim), keyDim)
        let v = try headsFirst(project(wv, heads * valueDim), valueDim)
        let i = try headsFirst(project(wi, heads), 1).reshaped([1, heads, t])
        // A forget-gate bias of 3 keeps memory over hundreds of tokens, as in trained models.
        let f = try headsFirst(project(wf, heads).map { $0 + 3 }, 1).reshaped([1, heads, t])
        let h: Tensor<Float>
        if t == 1 {
            h = try state.step(q: q.reshaped([1, heads, keyDim]), k: k.reshaped([1, heads, keyDim]),
                               v: v.reshaped([1, heads, valueDim]), i: i.reshaped([1, heads, 1]), f: f.reshaped([1, heads, 1]))
        } else {
            h = try state.prefill(MLSTMInputs(q: q, k: k, v: v, i: i, f: f))
        }
        // Per-head layer norm over DHV, back to (T, NH·DHV).
        let hv = h.scalars
        var normalized = [Float](repeating: 0, count: t * heads * valueDim)
        for head in 0..<heads {
            for token in 0..<t {
                let row = (head * t + token) * valueDim
                var mean: Float = 0, square: Float = 0
                for j in 0..<valueDim { mean += hv[row + j] }
                mean /= Float(valueDim)
                for j in 0..<valueDim { square += (hv[row + j] - mean) * (hv[row + j] - mean) }
                let inverse = 1 / (square / Float(valueDim) + 1e-5).squareRoot()
                for j in 0..<valueDim { normalized[(token * heads + head) * valueDim + j] = (hv[row + j] - mean) * inverse }
            }
        }
        var y = [Float](repeating: 0, count: t * model)
        y.withUnsafeMutableBufferPointer { o in
            Float.gemm(transposeA: false, transposeB: false, m: t, n: model, k: heads * valueDim,
                       alpha: 1, a: normalized, lda: heads * valueDim, b: wo, ldb: model, beta: 0, c: o.baseAddress!, ldc: model)
        }
        return y
    }
}
