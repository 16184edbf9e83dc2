import Testing
import TFLA

/// max_i |a_i − b_i| / max_i |b_i|: the error relative to the reference's
/// largest magnitude, so that near-zero elements do not dominate.
func relativeError<A: TensorScalar, B: TensorScalar>(_ a: Tensor<A>, _ reference: Tensor<B>) -> Double {
    precondition(a.shape == reference.shape, "shapes differ: \(a.shape) vs \(reference.shape)")
    return a.withUnsafeBufferPointer { x in
        reference.withUnsafeBufferPointer { y in
            var maxDiff = 0.0
            var maxRef = 0.0
            for index in x.indices {
                let (u, v) = (x[index].doubleValue, y[index].doubleValue)
                if u.isNaN || v.isNaN { return .infinity }
                maxDiff = max(maxDiff, abs(u - v))
                maxRef = max(maxRef, abs(v))
            }
            return maxRef == 0 ? maxDiff : maxDiff / maxRef
        }
    }
}

/// The largest |element|, to assert that a comparison is not vacuous.
func maxMagnitude<S: TensorScalar>(_ tensor: Tensor<S>) -> Double {
    tensor.withUnsafeBufferPointer { $0.reduce(0.0) { max($0, abs($1.doubleValue)) } }
}

/// Where the committed fixtures live (the tests read them from the source
/// tree, so no Python is needed to run the suite).
enum Fixtures {
    static let root: String = {
        var path = #filePath
        for _ in 0..<2 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path + "/Fixtures"
    }()
}

/// Σ a⊙b, in Double.
func dotProduct(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double {
    zip(a.scalars, b.scalars).reduce(0) { $0 + $1.0 * $1.1 }
}

/// Central differences (step 1e-6) of `loss` with respect to every element
/// of the tensor at `path` inside `problem`.
func centralDifferences<Problem>(
    _ problem: Problem, _ path: WritableKeyPath<Problem, Tensor<Double>>, loss: (Problem) throws -> Double
) rethrows -> Tensor<Double> {
    var gradient = Tensor<Double>(shape: problem[keyPath: path].shape)
    let step = 1e-6
    for index in 0..<gradient.count {
        var plus = problem, minus = problem
        plus[keyPath: path].withUnsafeMutableBufferPointer { $0[index] += step }
        minus[keyPath: path].withUnsafeMutableBufferPointer { $0[index] -= step }
        let value = (try loss(plus) - loss(minus)) / (2 * step)
        gradient.withUnsafeMutableBufferPointer { $0[index] = value }
    }
    return gradient
}

/// A forward's h and final state against the recurrent form's: ≤
/// `tolerance` (1e-10 unless given) relative for h, c and n, ≤ 1e-12 for m.
func expectMatchesRecurrent(_ h: Tensor<Double>, _ state: MLSTMState<Double>, _ expected: MLSTMOutput<Double>,
                            _ context: String = "", tolerance: Double = 1e-10) {
    #expect(relativeError(h, expected.h) <= tolerance, "h \(context)")
    #expect(relativeError(state.c, expected.state.c) <= tolerance, "c \(context)")
    #expect(relativeError(state.n, expected.state.n) <= tolerance, "n \(context)")
    #expect(relativeError(state.m, expected.state.m) <= 1e-12, "m \(context)")
}

/// A training forward's saved states against the recurrent states before
/// chunks 0, stride, 2·stride, … (chunks of `chunkSize` tokens).
func expectSavedStatesMatchRecurrent(
    _ saved: MLSTMChunkStates<Double>, _ x: MLSTMInputs<Double>, gate: Gate, initialState: MLSTMState<Double>?,
    chunkSize: Int, stride: Int, _ context: String = ""
) throws {
    let shape = try x.validatedShape()
    let chunks = (shape.sequence + chunkSize - 1) / chunkSize
    #expect(saved.c.shape == [shape.batch, shape.heads, (chunks + stride - 1) / stride, shape.keyDim, shape.valueDim])
    for slot in 0..<saved.c.shape[2] {
        let tokens = slot * stride * chunkSize
        let state = tokens == 0 ? (initialState ?? MLSTMState(zerosFor: shape))
            : try Reference.recurrent(x.sequenceSlice(0..<tokens), gate: gate, initialState: initialState).state
        func part<S>(_ tensor: Tensor<S>, _ like: Tensor<S>) throws -> Tensor<S> {
            try tensor.slicing(axis: 2, slot..<(slot + 1)).reshaped(like.shape)
        }
        #expect(try relativeError(part(saved.c, state.c), state.c) <= 1e-10, "saved c \(slot) \(context)")
        #expect(try relativeError(part(saved.n, state.n), state.n) <= 1e-10, "saved n \(slot) \(context)")
        #expect(try relativeError(saved.m.slicing(axis: 2, slot..<(slot + 1)).reshaped(state.m.shape), state.m) <= 1e-12,
                "saved m \(slot) \(context)")
    }
}
