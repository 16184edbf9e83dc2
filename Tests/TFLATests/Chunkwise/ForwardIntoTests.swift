import Testing
import TFLA
import TFLATestSupport

/// `Chunkwise.forward(_:gate:initialState:eps:options:into:)`: h into a
/// tensor the caller keeps.
@Suite("Forward into a kept h")
struct ForwardIntoTests {
    static let shape = ProblemShape(batch: 2, heads: 2, sequence: 300, keyDim: 32, valueDim: 48)

    /// The same bits as the allocating forward, for both gates, both
    /// precisions, and a state carried in.
    @Test func sameBitsAsTheAllocatingForward() throws {
        let x = MLSTMInputs<Float>.random(Self.shape, seed: 11)
        let start = try Chunkwise.forward(MLSTMInputs<Float>.random(Self.shape, seed: 12), gate: .exponential).state
        var h = Tensor<Float>(shape: Self.shape.valueShape)
        for gate in [Gate.exponential, .sigmoid(normalize: true)] {
            for precision in ChunkwiseOptions.Precision.allCases {
                var options = ChunkwiseOptions(parallelism: 3)
                options.precision = precision
                let initial = gate.isStabilized ? start : nil
                let expected = try Chunkwise.forward(x, gate: gate, initialState: initial, options: options)
                let state = try Chunkwise.forward(x, gate: gate, initialState: initial, options: options, into: &h)
                #expect(h.scalars == expected.h.scalars, "\(gate) \(precision)")
                #expect(state.c.scalars == expected.state.c.scalars && state.n.scalars == expected.state.n.scalars)
                #expect(state.m.scalars == expected.state.m.scalars)
            }
        }
    }

    /// A tensor wrapping the caller's memory receives h in that memory.
    @Test func writesThroughWrappedMemory() throws {
        let x = MLSTMInputs<Float>.random(Self.shape, seed: 13)
        let expected = try Chunkwise.forward(x, gate: .exponential).h
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: expected.count)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: .nan)
        var h = try Tensor<Float>(shape: Self.shape.valueShape, wrapping: buffer)
        _ = try Chunkwise.forward(x, gate: .exponential, into: &h)
        #expect(Array(buffer) == expected.scalars)
    }

    /// A wrong shape is refused before any work, naming h, and h is left
    /// as it was.
    @Test func refusesAnotherShape() throws {
        let x = MLSTMInputs<Float>.random(Self.shape, seed: 14)
        var h = Tensor<Float>(shape: [2, 2, 300, 47], repeating: 7)
        #expect(throws: TFLAError.shapeMismatch(argument: "h", expected: Self.shape.valueShape, given: [2, 2, 300, 47])) {
            _ = try Chunkwise.forward(x, gate: .exponential, into: &h)
        }
        #expect(h.shape == [2, 2, 300, 47] && h.scalars.allSatisfy { $0 == 7 })
    }
}
