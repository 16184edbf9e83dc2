import Testing
import TFLA
import TFLATestSupport

/// Every driver runs exactly its plan: the phases in order, each with all of
/// its items and no others (recorded by `runPhase` while a test binds a
/// `PhaseRecorder`).
@Suite("Plan execution")
struct PlanExecutionTests {
    typealias Kind = ChunkwisePlan.PhaseKind

    /// The phases `body` ran, each checked to have run all its items.
    static func phasesRun(_ body: () throws -> Void) rethrows -> [ChunkwisePlan.Phase] {
        let recorder = PhaseRecorder()
        try PhaseRecorder.$current.withValue(recorder) { try body() }
        for (phase, itemsRun) in recorder.phases {
            #expect(itemsRun == phase.items, "\(phase)")
        }
        return recorder.phases.map(\.phase)
    }

    static func options(chunk: Int, parallelism: Int) -> ChunkwiseOptions {
        ChunkwiseOptions(chunkSize: chunk, threads: 2, parallelism: parallelism)
    }

    /// Two heads of 512 tokens, DHV 128 in chunks of 32: at 16 workers the
    /// columns split in two, the scores are shared and the sequence is cut
    /// into segments; at one worker nothing is split.
    static let heads = ProblemShape(batch: 1, heads: 2, sequence: 512, keyDim: 16, valueDim: 128)
    static let oneHead = ProblemShape(batch: 1, heads: 1, sequence: 300, keyDim: 16, valueDim: 32)

    @Test("Inference forward", arguments: [1, 16])
    func inference(parallelism: Int) throws {
        let x = MLSTMInputs<Float>.random(Self.heads, seed: 1)
        let options = Self.options(chunk: 32, parallelism: parallelism)
        let plan = try Chunkwise.plan(for: Self.heads, gate: .exponential, call: .inference, options: options)
        let run = try Self.phasesRun { _ = try Chunkwise.forward(x, gate: .exponential, options: options) }
        #expect(run == plan.phases)
        #expect(run.map(\.kind) == (parallelism == 1 ? [.segmentWalks] : [.sharedScores, .segmentSummaries, .segmentWalks]))
    }

    @Test("Training forward: scan and states-then-outputs")
    func training() throws {
        let options = Self.options(chunk: 32, parallelism: 16)
        let x = MLSTMInputs<Float>.random(Self.heads, seed: 2)
        let plan = try Chunkwise.plan(for: Self.heads, gate: .exponential, call: .training, stateStride: 2, options: options)
        let run = try Self.phasesRun { _ = try Chunkwise.trainingForward(x, gate: .exponential, stateStride: 2, options: options) }
        #expect(plan.strategy == .scan && run == plan.phases)

        let single = Self.options(chunk: 32, parallelism: 1)
        let y = MLSTMInputs<Float>.random(Self.oneHead, seed: 3)
        let fewItems = try Chunkwise.plan(for: Self.oneHead, gate: .exponential, call: .training, stateStride: 3, options: single)
        let twoKernels = try Self.phasesRun { _ = try Chunkwise.trainingForward(y, gate: .exponential, stateStride: 3, options: single) }
        #expect(fewItems.strategy == .statesThenOutputs && twoKernels == fewItems.phases)
        #expect(twoKernels.map(\.kind) == [.chunkStates, .runOutputs])
    }

    @Test("Backward: head walks, blocks and phases")
    func backward() throws {
        let cases: [(ProblemShape, Int, ChunkwisePlan.Strategy)] = [
            (Self.heads, 1, .headWalks), (Self.heads, 16, .blocks), (Self.oneHead, 4, .phases),
        ]
        for (shape, parallelism, strategy) in cases {
            let options = Self.options(chunk: 32, parallelism: parallelism)
            let x = MLSTMInputs<Float>.random(shape, seed: 4)
            let dh = MLSTMInputs<Float>.random(shape, seed: 5).v
            let forward = try Chunkwise.trainingForward(x, gate: .exponential, stateStride: 2, options: options)
            let plan = try Chunkwise.plan(for: shape, gate: .exponential, call: .backward, stateStride: 2, options: options)
            let run = try Self.phasesRun {
                _ = try Chunkwise.backward(x, gate: .exponential, forward: forward, dh: dh, options: options)
            }
            #expect(plan.strategy == strategy)
            #expect(run == plan.phases, "\(strategy)")
        }
    }

    @Test("Packed forward and summaries")
    func packedAndSummary() throws {
        let options = Self.options(chunk: 32, parallelism: 16)
        let x = MLSTMInputs<Float>.random(Self.heads, seed: 6)
        let packedPlan = try Chunkwise.plan(for: Self.heads, gate: .exponential, call: .packed, sequences: 3, options: options)
        let packed = try Self.phasesRun {
            _ = try Chunkwise.forward(packed: x, sequenceOffsets: [0, 100, 333, 512], gate: .exponential, options: options)
        }
        #expect(packed == packedPlan.phases && packed.map(\.kind) == [.segmentWalks])

        for parallelism in [1, 16] {
            let options = Self.options(chunk: 32, parallelism: parallelism)
            let plan = try Chunkwise.plan(for: Self.heads, gate: .exponential, call: .summary, options: options)
            let run = try Self.phasesRun { _ = try Chunkwise.summary(of: x, gate: .exponential, options: options) }
            #expect(run == plan.phases)
            #expect(run.map(\.kind) == (parallelism == 1 ? [.segmentSummaries] : [.segmentSummaries, .summaryComposition]))
        }
    }
}
