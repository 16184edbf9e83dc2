import Testing
import TFLA
import TFLATestSupport

@Suite("Half-precision storage")
struct HalfPrecisionTests {
    @Test func bfloat16RoundsToNearestEven() {
        #expect(BFloat16(Float(1)).bitPattern == 0x3F80)
        #expect(BFloat16(Float(bitPattern: 0x3F80_8000)).bitPattern == 0x3F80)   // tie → even
        #expect(BFloat16(Float(bitPattern: 0x3F81_8000)).bitPattern == 0x3F82)   // tie → even
        #expect(BFloat16(Float(bitPattern: 0x3F80_8001)).bitPattern == 0x3F81)
        #expect(BFloat16(Float.infinity).floatValue == .infinity)
        #expect(BFloat16(Float.nan).floatValue.isNaN)
        #expect(BFloat16(Float(-2.5)).floatValue == -2.5)
    }

    /// Error against float64 of the same (16-bit) inputs: the outputs'
    /// rounding to 11 (float16) or 8 (bfloat16) significant bits dominates.
    @Test func forwardErrorAgainstFloat64() throws {
        let shape = ProblemShape(batch: 1, heads: 2, sequence: 300, keyDim: 16, valueDim: 24)
        let x = MLSTMInputs<Double>.random(shape, seed: 13)
        func measure<S: TensorScalar>(_: S.Type) throws -> Double {
            let stored = x.converted(to: S.self)
            let exact = stored.converted(to: Double.self)
            let expected = try Reference.recurrent(exact, gate: .exponential)
            let result = try Chunkwise.forward(storedAs: stored, gate: .exponential, options: ChunkwiseOptions(chunkSize: 64))
            #expect(relativeError(result.state.c, expected.state.c) <= 1e-5)
            return relativeError(result.h, expected.h)
        }
        let half = try measure(Float16.self)
        let brain = try measure(BFloat16.self)
        #expect(half <= 1e-3 && half > 0, "float16: \(half)")
        #expect(brain <= 8e-3 && brain > half, "bfloat16: \(brain)")
    }
}
