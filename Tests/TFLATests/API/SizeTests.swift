import Foundation
import Testing
import TFLA
import TFLATestSupport

/// Impossible sizes are refused before any work with a typed error, and
/// options beyond the problem never size an allocation.
@Suite("Sizes and memory")
struct SizeTests {
    /// DQK = DHV = 2²⁰ from inputs of a few MB: C alone would be 4 TiB.
    @Test func impossibleStateIsRefusedBeforeAnyWork() throws {
        let wide = ProblemShape(batch: 1, heads: 1, sequence: 1, keyDim: 1 << 20, valueDim: 1 << 20)
        let x = MLSTMInputs<Float>.random(wide, seed: 1)
        let tooMuch = { (what: String, atLeast: Int) in
            { (error: any Error) -> Bool in
                guard case let .insufficientMemory(name, bytes, available) = error as? TFLAError else { return false }
                return name == what && bytes >= atLeast && available < bytes
            }
        }
        let state = (1 << 40) * 4
        #expect(performing: { try Chunkwise.forward(x, gate: .exponential) }, throws: tooMuch("chunkwise forward", state))
        #expect(performing: { try Reference.recurrent(x, gate: .exponential) }, throws: tooMuch("recurrent reference", state))
        #expect(performing: { try Chunkwise.gradients(x, gate: .exponential, dh: x.v) }, throws: tooMuch("chunkwise forward", state))
        #expect(performing: { try Reference.recurrentBackward(x, gate: .exponential, dh: x.v) },
                throws: tooMuch("recurrent backward", state))
        #expect(performing: {
            try InferenceState<Float>(batch: 1, heads: 1, keyDim: 1 << 20, valueDim: 1 << 20, gate: .exponential)
        }, throws: tooMuch("inference state", state))
        #expect(performing: { try Chunkwise.forward(packed: x, sequenceOffsets: [0, 1], gate: .exponential) },
                throws: tooMuch("packed forward", state))
        #expect(performing: { try Chunkwise.gradients(packed: x, sequenceOffsets: [0, 1], gate: .exponential, dh: x.v) },
                throws: tooMuch("packed gradients", state))
        // The parallel form keeps no state: it fits.
        #expect(try Reference.parallel(x, gate: .exponential).shape == [1, 1, 1, 1 << 20])
    }

    @Test func sizesAreOverflowChecked() {
        #expect(throws: TFLAError.sizeOverflow(what: "C")) { try MemoryBudget.product([1 << 20, 1 << 20, 1 << 20, 8], what: "C") }
        #expect(throws: TFLAError.sizeOverflow(what: "all")) { try MemoryBudget.total([[Int.max / 2 + 1], [Int.max / 2 + 1]], what: "all") }
        // The available memory is read anew by each call (other processes
        // change it), so only the case and the bytes asked are compared.
        #expect {
            try MemoryBudget.require([[Int.max - 1]], for: "x")
        } throws: { error in
            guard case let .insufficientMemory(what, bytes, available)? = error as? TFLAError else { return false }
            return what == "x" && bytes == Int.max - 1 && available > 1 << 20
        }
        #expect(MemoryBudget.availableBytes() > 1 << 20)
        #expect(TFLAError.insufficientMemory(what: "step", bytes: 1 << 42, available: 1 << 30).description
                == "step: needs 4398046511104 bytes (4.0 TiB) of memory, 1073741824 bytes (1.0 GiB) available")
    }

    /// A recent reading admits small requests without reading again; a
    /// request beyond half of it is decided on a fresh reading and refused.
    @Test func recentReadingAdmitsOnlySmallRequests() throws {
        try MemoryBudget.require([[1 << 10]], for: "small")
        try MemoryBudget.require([[1 << 10]], for: "small")
        #expect {
            try MemoryBudget.require([[Int.max - 1]], for: "big")
        } throws: { error in
            guard case let .insufficientMemory(what, bytes, _)? = error as? TFLAError else { return false }
            return what == "big" && bytes == Int.max - 1
        }
        #if os(Linux)
        // The byte parser against a plain reading of the same file (other
        // processes move the figure between the two reads: 10 % slack).
        let text = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
        func kib(_ key: String) -> Int {
            text.split(separator: "\n").first { $0.hasPrefix(key + ":") }
                .flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        }
        let plain = (kib("MemAvailable") + kib("SwapFree")) * 1024
        let parsed = MemoryBudget.availableBytes()
        #expect(abs(parsed - plain) <= plain / 10)
        #endif
    }

    /// A state stride beyond the chunk count (up to Int.max) keeps the one
    /// state there is: same gradients as a stride of the chunk count, and
    /// no scratch sized by the stride.
    @Test(arguments: [1_000_000_000, 1 << 62, Int.max])
    func hugeStateStrideIsClipped(stride: Int) throws {
        let shape = ProblemShape(batch: 2, heads: 2, sequence: 37, keyDim: 8, valueDim: 6)
        let x = MLSTMInputs<Double>.random(shape, seed: 5)
        let dh = MLSTMInputs<Double>.random(shape, seed: 6).v
        let options = ChunkwiseOptions(chunkSize: 8)
        let expected = try Chunkwise.gradients(x, gate: .exponential, dh: dh, stateStride: 5, options: options)
        let result = try Chunkwise.gradients(x, gate: .exponential, dh: dh, stateStride: stride, options: options)
        #expect(Self.same(result.gradients, expected.gradients))
        #expect(result.output.chunkStates.c.shape == [2, 2, 1, 8, 6])
        // One head takes the phased path, sized by the chunk count.
        let single = MLSTMInputs<Double>.random(ProblemShape(batch: 1, heads: 1, sequence: 37, keyDim: 8, valueDim: 6), seed: 7)
        let one = try Chunkwise.gradients(single, gate: .exponential, dh: single.v, stateStride: stride, options: options)
        #expect(Self.same(one.gradients, try Chunkwise.gradients(single, gate: .exponential, dh: single.v, stateStride: 5,
                                                                 options: options).gradients))
    }

    /// Thread and worker counts up to Int.max are clipped, not trusted.
    @Test func hugeThreadCountsAreClipped() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 20, keyDim: 4, valueDim: 6)
        let x = MLSTMInputs<Double>.random(shape, seed: 3)
        let plain = try Chunkwise.forward(x, gate: .exponential, options: ChunkwiseOptions(chunkSize: 8, parallelism: Workers.maximumCount))
        let huge = try Chunkwise.forward(x, gate: .exponential,
                                         options: ChunkwiseOptions(chunkSize: 8, threads: .max, parallelism: .max))
        #expect(huge.h == plain.h && huge.state.c == plain.state.c)
        let token = try x.sequenceSlice(0..<1)
        var outputs: [Tensor<Double>] = []
        for threads in [1, .max] {
            let state = try InferenceState<Double>(batch: 1, heads: 2, keyDim: 4, valueDim: 6, gate: .exponential)
            state.threads = threads
            var h = Tensor<Double>(shape: [1, 2, 6])
            try state.step(q: token.q.reshaped([1, 2, 4]), k: token.k.reshaped([1, 2, 4]), v: token.v.reshaped([1, 2, 6]),
                           i: token.i.reshaped([1, 2, 1]), f: token.f.reshaped([1, 2, 1]), into: &h)
            outputs.append(h)
        }
        #expect(outputs[0] == outputs[1])
        #expect(relativeError(outputs[1], try Reference.recurrent(token, gate: .exponential).h.reshaped([1, 2, 6])) <= 1e-12)
    }

    static func same(_ a: MLSTMGradients<Double>, _ b: MLSTMGradients<Double>) -> Bool {
        a.dq == b.dq && a.dk == b.dk && a.dv == b.dv && a.di == b.di && a.df == b.df && a.dInitialState.c == b.dInitialState.c && a.dInitialState.n == b.dInitialState.n && a.dInitialState.m == b.dInitialState.m
    }

    /// A stride below one is refused by every training entry (saved states
    /// cannot be given one: their fields are read-only).
    @Test func strideBelowOneIsRefused() throws {
        let x = MLSTMInputs<Double>.random(ProblemShape(batch: 1, heads: 2, sequence: 9, keyDim: 3, valueDim: 2), seed: 2)
        let options = ChunkwiseOptions(chunkSize: 4)
        let refusal = TFLAError.invalidParameter(name: "stateStride", value: "0", requirement: "at least 1")
        #expect(throws: refusal) { try Chunkwise.trainingForward(x, gate: .exponential, stateStride: 0, options: options) }
        #expect(throws: refusal) { try Chunkwise.gradients(x, gate: .exponential, dh: x.v, stateStride: 0, options: options) }
        #expect(throws: refusal) {
            try Chunkwise.gradients(packed: x, sequenceOffsets: [0, 9], gate: .exponential, dh: x.v, stateStride: 0, options: options)
        }
    }
}
