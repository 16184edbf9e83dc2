import Testing
import TFLA
import TFLATestSupport

/// The plans of the standard benchmark shapes, pinned: the plan decides how
/// sums are split and so the rounding of every result, and any change to the
/// planner must show up here.
@Suite("Chunkwise plan")
struct ChunkwisePlanTests {
    /// The standard forward shapes, one long head and a large batch
    /// (`Benchmarks/Kit`, `BenchmarkShape.standard` and `.scaling`).
    static let shapes: [(name: String, shape: ProblemShape)] = [
        ("xlstm-7b-head", ProblemShape(batch: 1, heads: 8, sequence: 8192, keyDim: 256, valueDim: 512)),
        ("paper-head", ProblemShape(batch: 1, heads: 16, sequence: 16384, keyDim: 128, valueDim: 256)),
        ("batched", ProblemShape(batch: 8, heads: 4, sequence: 2048, keyDim: 128, valueDim: 128)),
        ("one-head-64k", ProblemShape(batch: 1, heads: 1, sequence: 65536, keyDim: 256, valueDim: 512)),
        ("batch-8x8", ProblemShape(batch: 8, heads: 8, sequence: 2048, keyDim: 256, valueDim: 512)),
    ]

    /// Strategy | columns per item × column tiles | segments (backward:
    /// blocks) × their length | every phase with its item count.
    static let pinned: [String: String] = [
        "xlstm-7b-head inference P1": "scan | 512 columns × 1 | 1 segments × 128 | segment walks 8",
        "xlstm-7b-head inference P2": "scan | 512 columns × 1 | 1 segments × 128 | segment walks 8",
        "xlstm-7b-head inference P16": "scan | 128 columns × 4 | 1 segments × 128 | shared scores 1024, segment walks 32",
        "xlstm-7b-head inference P64": "scan | 64 columns × 8 | 4 segments × 32 | shared scores 1024, segment summaries 192, segment walks 256",
        "xlstm-7b-head training P1": "scan | 512 columns × 1 | 1 segments × 64 | segment walks 8",
        "xlstm-7b-head training P2": "scan | 512 columns × 1 | 1 segments × 64 | segment walks 8",
        "xlstm-7b-head training P16": "scan | 128 columns × 4 | 1 segments × 64 | shared scores 512, segment walks 32",
        "xlstm-7b-head training P64": "scan | 64 columns × 8 | 4 segments × 16 | shared scores 512, segment summaries 192, segment walks 256",
        "xlstm-7b-head backward P1": "head walks | 512 columns × 1 | 1 segments × 16 | head walks 8",
        "xlstm-7b-head backward P2": "head walks | 512 columns × 1 | 1 segments × 16 | head walks 8",
        "xlstm-7b-head backward P16": "blocks | 64 columns × 8 | 8 segments × 2 | block summaries 56, block walks 64, gate gradients 8",
        "xlstm-7b-head backward P64": "blocks | 64 columns × 8 | 8 segments × 2 | block summaries 56, block walks 64, gate gradients 8",
        "xlstm-7b-head summary P1": "summary | 512 columns × 1 | 1 segments × 128 | segment summaries 8",
        "xlstm-7b-head summary P2": "summary | 512 columns × 1 | 1 segments × 128 | segment summaries 8",
        "xlstm-7b-head summary P16": "summary | 64 columns × 8 | 1 segments × 128 | segment summaries 64",
        "xlstm-7b-head summary P64": "summary | 64 columns × 8 | 4 segments × 32 | segment summaries 256, composition 64",
        "paper-head inference P1": "scan | 256 columns × 1 | 1 segments × 256 | segment walks 16",
        "paper-head inference P2": "scan | 256 columns × 1 | 1 segments × 256 | segment walks 16",
        "paper-head inference P16": "scan | 64 columns × 4 | 1 segments × 256 | shared scores 4096, segment walks 64",
        "paper-head inference P64": "scan | 64 columns × 4 | 4 segments × 64 | shared scores 4096, segment summaries 192, segment walks 256",
        "paper-head training P1": "scan | 256 columns × 1 | 1 segments × 128 | segment walks 16",
        "paper-head training P2": "scan | 256 columns × 1 | 1 segments × 128 | segment walks 16",
        "paper-head training P16": "scan | 64 columns × 4 | 1 segments × 128 | shared scores 2048, segment walks 64",
        "paper-head training P64": "scan | 64 columns × 4 | 4 segments × 32 | shared scores 2048, segment summaries 192, segment walks 256",
        "paper-head backward P1": "head walks | 256 columns × 1 | 1 segments × 32 | head walks 16",
        "paper-head backward P2": "head walks | 256 columns × 1 | 1 segments × 32 | head walks 16",
        "paper-head backward P16": "blocks | 64 columns × 4 | 4 segments × 8 | block summaries 48, block walks 64, gate gradients 16",
        "paper-head backward P64": "blocks | 64 columns × 4 | 16 segments × 2 | block summaries 240, block walks 256, gate gradients 16",
        "paper-head summary P1": "summary | 256 columns × 1 | 1 segments × 256 | segment summaries 16",
        "paper-head summary P2": "summary | 256 columns × 1 | 1 segments × 256 | segment summaries 16",
        "paper-head summary P16": "summary | 64 columns × 4 | 1 segments × 256 | segment summaries 64",
        "paper-head summary P64": "summary | 64 columns × 4 | 4 segments × 64 | segment summaries 256, composition 64",
        "batched inference P1": "scan | 128 columns × 1 | 1 segments × 32 | segment walks 32",
        "batched inference P2": "scan | 128 columns × 1 | 1 segments × 32 | segment walks 32",
        "batched inference P16": "scan | 64 columns × 2 | 1 segments × 32 | shared scores 1024, segment walks 64",
        "batched inference P64": "scan | 64 columns × 2 | 4 segments × 8 | shared scores 1024, segment summaries 192, segment walks 256",
        "batched training P1": "scan | 128 columns × 1 | 1 segments × 16 | segment walks 32",
        "batched training P2": "scan | 128 columns × 1 | 1 segments × 16 | segment walks 32",
        "batched training P16": "scan | 64 columns × 2 | 1 segments × 16 | shared scores 512, segment walks 64",
        "batched training P64": "scan | 64 columns × 2 | 2 segments × 8 | shared scores 512, segment summaries 64, segment walks 128",
        "batched backward P1": "head walks | 128 columns × 1 | 1 segments × 4 | head walks 32",
        "batched backward P2": "head walks | 128 columns × 1 | 1 segments × 4 | head walks 32",
        "batched backward P16": "blocks | 64 columns × 2 | 2 segments × 2 | block summaries 32, block walks 64, gate gradients 32",
        "batched backward P64": "blocks | 64 columns × 2 | 2 segments × 2 | block summaries 32, block walks 64, gate gradients 32",
        "batched summary P1": "summary | 128 columns × 1 | 1 segments × 32 | segment summaries 32",
        "batched summary P2": "summary | 128 columns × 1 | 1 segments × 32 | segment summaries 32",
        "batched summary P16": "summary | 64 columns × 2 | 1 segments × 32 | segment summaries 64",
        "batched summary P64": "summary | 64 columns × 2 | 4 segments × 8 | segment summaries 256, composition 64",
        "one-head-64k inference P1": "scan | 512 columns × 1 | 1 segments × 1024 | segment walks 1",
        "one-head-64k inference P2": "scan | 512 columns × 1 | 8 segments × 128 | segment summaries 7, segment walks 8",
        "one-head-64k inference P16": "scan | 512 columns × 1 | 64 segments × 16 | segment summaries 63, segment walks 64",
        "one-head-64k inference P64": "scan | 512 columns × 1 | 256 segments × 4 | segment summaries 255, segment walks 256",
        "one-head-64k training P1": "states then outputs | 512 columns × 1 | 1 segments × 512 | chunk states 1, run outputs 128",
        "one-head-64k training P2": "scan | 512 columns × 1 | 8 segments × 64 | segment summaries 7, segment walks 8",
        "one-head-64k training P16": "scan | 512 columns × 1 | 64 segments × 8 | segment summaries 63, segment walks 64",
        "one-head-64k training P64": "scan | 512 columns × 1 | 64 segments × 8 | segment summaries 63, segment walks 64",
        "one-head-64k backward P1": "phases | 512 columns × 1 | 1 segments × 128 | states 128, state gradients 1, chunk gradients 512, gate gradients 1",
        "one-head-64k backward P2": "phases | 512 columns × 1 | 1 segments × 128 | states 128, state gradients 8, chunk gradients 512, gate gradients 1",
        "one-head-64k backward P16": "phases | 512 columns × 1 | 1 segments × 128 | states 128, state gradients 8, chunk gradients 512, gate gradients 1",
        "one-head-64k backward P64": "phases | 512 columns × 1 | 1 segments × 128 | states 128, state gradients 8, chunk gradients 512, gate gradients 1",
        "one-head-64k summary P1": "summary | 512 columns × 1 | 1 segments × 1024 | segment summaries 1",
        "one-head-64k summary P2": "summary | 512 columns × 1 | 8 segments × 128 | segment summaries 8, composition 1",
        "one-head-64k summary P16": "summary | 512 columns × 1 | 64 segments × 16 | segment summaries 64, composition 1",
        "one-head-64k summary P64": "summary | 512 columns × 1 | 256 segments × 4 | segment summaries 256, composition 1",
        "batch-8x8 inference P1": "scan | 512 columns × 1 | 1 segments × 32 | segment walks 64",
        "batch-8x8 inference P2": "scan | 512 columns × 1 | 1 segments × 32 | segment walks 64",
        "batch-8x8 inference P16": "scan | 512 columns × 1 | 1 segments × 32 | segment walks 64",
        "batch-8x8 inference P64": "scan | 128 columns × 4 | 1 segments × 32 | shared scores 2048, segment walks 256",
        "batch-8x8 training P1": "scan | 512 columns × 1 | 1 segments × 16 | segment walks 64",
        "batch-8x8 training P2": "scan | 512 columns × 1 | 1 segments × 16 | segment walks 64",
        "batch-8x8 training P16": "scan | 512 columns × 1 | 1 segments × 16 | segment walks 64",
        "batch-8x8 training P64": "scan | 128 columns × 4 | 1 segments × 16 | shared scores 1024, segment walks 256",
        "batch-8x8 backward P1": "head walks | 512 columns × 1 | 1 segments × 4 | head walks 64",
        "batch-8x8 backward P2": "head walks | 512 columns × 1 | 1 segments × 4 | head walks 64",
        "batch-8x8 backward P16": "head walks | 512 columns × 1 | 1 segments × 4 | head walks 64",
        "batch-8x8 backward P64": "blocks | 128 columns × 4 | 2 segments × 2 | block summaries 64, block walks 128, gate gradients 64",
        "batch-8x8 summary P1": "summary | 512 columns × 1 | 1 segments × 32 | segment summaries 64",
        "batch-8x8 summary P2": "summary | 512 columns × 1 | 1 segments × 32 | segment summaries 64",
        "batch-8x8 summary P16": "summary | 512 columns × 1 | 1 segments × 32 | segment summaries 64",
        "batch-8x8 summary P64": "summary | 128 columns × 4 | 1 segments × 32 | segment summaries 256",
    ]

    /// A plan in the pinned form.
    static func signature(_ plan: ChunkwisePlan) -> String {
        let phases = plan.phases.map { "\($0.kind.rawValue) \($0.items)" }.joined(separator: ", ")
        return "\(plan.strategy.rawValue) | \(plan.columnsPerItem) columns × \(plan.columnTiles) | "
            + "\(plan.segments) segments × \(plan.segmentLength) | \(phases)"
    }

    @Test("Standard shapes at 1, 2, 16 and 64 workers", arguments: [1, 2, 16, 64])
    func standardShapes(workers: Int) throws {
        for (name, shape) in Self.shapes {
            for call in [ChunkwiseCall.inference, .training, .backward, .summary] {
                var options = call == .training || call == .backward ? ChunkwiseOptions.training : .default
                options.parallelism = workers
                let plan = try Chunkwise.plan(for: shape, gate: .exponential, call: call, options: options)
                let key = "\(name) \(call) P\(workers)"
                #expect(Self.signature(plan) == Self.pinned[key], "\(key)")
                #expect(plan.parallelism == workers)
            }
        }
    }

    @Test("Threads never change the plan")
    func threadInvariance() throws {
        let shape = Self.shapes[0].shape
        var one = ChunkwiseOptions(parallelism: 16), many = one
        one.threads = 1
        many.threads = 7
        let a = try Chunkwise.plan(for: shape, gate: .exponential, call: .inference, options: one)
        let b = try Chunkwise.plan(for: shape, gate: .exponential, call: .inference, options: many)
        #expect(a.phases == b.phases && a.columnsPerItem == b.columnsPerItem && a.segments == b.segments)
        #expect(a.threads == 1 && b.threads == 7)
    }

    @Test("Packed plans: one segment per sequence")
    func packed() throws {
        let shape = ProblemShape(batch: 2, heads: 4, sequence: 1000, keyDim: 64, valueDim: 256)
        let plan = try Chunkwise.plan(for: shape, gate: .exponential, call: .packed, sequences: 5,
                                      options: ChunkwiseOptions(parallelism: 16))
        #expect(Self.signature(plan) == "scan | 64 columns × 4 | 1 segments × 16 | segment walks 160")
        // One sequence is planned as the inference forward.
        let single = try Chunkwise.plan(for: shape, gate: .exponential, call: .packed, options: ChunkwiseOptions(parallelism: 16))
        let inference = try Chunkwise.plan(for: shape, gate: .exponential, call: .inference, options: ChunkwiseOptions(parallelism: 16))
        #expect(single.phases == inference.phases)
    }

    @Test("Explicit tiles and segments are planned as given")
    func explicitOptions() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 1000, keyDim: 64, valueDim: 256)
        let plan = try Chunkwise.plan(for: shape, gate: .sigmoid(normalize: true), call: .inference,
                                      options: ChunkwiseOptions(chunkSize: 100, valueDimTile: 96, parallelism: 1, segments: 3))
        #expect(Self.signature(plan)
                == "scan | 96 columns × 3 | 3 segments × 4 | shared scores 20, segment summaries 12, segment walks 18")
    }

    @Test("Invalid arguments are refused")
    func invalid() {
        let shape = ProblemShape(batch: 1, heads: 0, sequence: 10, keyDim: 4, valueDim: 4)
        #expect(throws: TFLAError.self) { try Chunkwise.plan(for: shape, gate: .exponential, call: .inference, options: .default) }
        let fine = ProblemShape(batch: 1, heads: 1, sequence: 10, keyDim: 4, valueDim: 4)
        #expect(throws: TFLAError.self) {
            try Chunkwise.plan(for: fine, gate: .exponential, call: .training, stateStride: 0, options: .default)
        }
        #expect(throws: TFLAError.self) {
            try Chunkwise.plan(for: fine, gate: .exponential, call: .inference, options: ChunkwiseOptions(parallelism: 0))
        }
    }

    @Test("The description lists every phase")
    func description() throws {
        let plan = try Chunkwise.plan(for: Self.shapes[0].shape, gate: .exponential, call: .inference,
                                      options: ChunkwiseOptions(parallelism: 64))
        let text = plan.description
        #expect(text.hasPrefix("chunkwise plan: inference forward, exp gate, scan"))
        #expect(text.contains("B=1 NH=8 S=8192 DQK=256 DHV=512"))
        #expect(text.contains("planned for: 64 workers"))
        #expect(text.contains("1. shared scores      1024 items"))
        #expect(text.contains("2. segment summaries   192 items"))
        #expect(text.contains("3. segment walks       256 items"))
    }
}
