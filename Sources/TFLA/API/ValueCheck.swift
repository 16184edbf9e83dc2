import Synchronization

/// Finite-value checks of arguments (`Documentation.docc/Math.md`, "Non-finite inputs").
///
/// q, k, v, states and upstream gradients must be finite; gate
/// pre-activations may be ±∞ where that has a limit (f̃ = −∞ an exact reset,
/// f̃ = +∞ a forget gate of 1, ĩ = −∞ an input weight of 0, and ĩ = +∞ for
/// the sigmoid gate), never NaN. The exponential gate refuses ĩ = +∞ (no
/// finite stabilizer) and ĩ = −∞ together with f̃ = −∞ on the same token (a
/// reset to an empty state, whose stabilizer would be −∞).
enum ValueCheck {
    /// Elements per block of the vectorized scan; a block with a non-finite
    /// element is rescanned element by element to find the first.
    static let block = 1 << 14

    /// The index of the first NaN or ±∞ in `buffer`, nil if there is none.
    static func firstNonFinite<S: TensorScalar>(_ buffer: UnsafeBufferPointer<S>) -> Int? {
        guard let base = buffer.baseAddress else { return nil }
        var start = 0
        while start < buffer.count {
            let count = min(block, buffer.count - start)
            if !allFinite(base + start, count: count) {
                for index in start..<(start + count) where !base[index].doubleValue.isFinite { return index }
            }
            start += count
        }
        return nil
    }

    /// `firstNonFinite` on up to `threads` workers, for large tensors.
    static func firstNonFinite<S: TensorScalar>(_ tensor: Tensor<S>, threads: Int) -> Int? {
        tensor.withUnsafeBufferPointer { buffer -> Int? in
            let blocks = (buffer.count + block - 1) / block
            guard threads > 1, blocks > 1 else { return firstNonFinite(buffer) }
            let found = Atomic<Int>(.max)
            let shared = UnsafeSendable(buffer)
            parallelFor(items: blocks, threads: threads, makeScratch: { () }) { item, _ in
                let start = item * block
                let part = UnsafeBufferPointer(rebasing: shared.value[start..<min(start + block, shared.value.count)])
                if let index = firstNonFinite(part) { found.min(start + index, ordering: .relaxed) }
            }
            let index = found.load(ordering: .relaxed)
            return index == .max ? nil : index
        }
    }

    /// Whether `count` elements from `pointer` are all finite: x − x is 0
    /// for finite x and NaN for NaN and ±∞, summed in SIMD lanes.
    @inline(__always)
    static func allFinite<S: TensorScalar>(_ pointer: UnsafePointer<S>, count: Int) -> Bool {
        if S.self == Float.self {
            return allFiniteSIMD(UnsafeRawPointer(pointer).assumingMemoryBound(to: Float.self), count: count,
                                 as: SIMD16<Float>.self)
        }
        if S.self == Double.self {
            return allFiniteSIMD(UnsafeRawPointer(pointer).assumingMemoryBound(to: Double.self), count: count,
                                 as: SIMD8<Double>.self)
        }
        for index in 0..<count where !pointer[index].doubleValue.isFinite { return false }
        return true
    }

    @inline(__always)
    private static func allFiniteSIMD<V: SIMD>(_ pointer: UnsafePointer<V.Scalar>, count: Int, as _: V.Type) -> Bool
    where V.Scalar: BinaryFloatingPoint {
        var sum = V()
        var index = 0
        let raw = UnsafeRawPointer(pointer)
        while index + V.scalarCount <= count {
            let x = raw.loadUnaligned(fromByteOffset: index * MemoryLayout<V.Scalar>.stride, as: V.self)
            sum += x - x
            index += V.scalarCount
        }
        var tail: V.Scalar = 0
        while index < count {
            tail += pointer[index] - pointer[index]
            index += 1
        }
        return sum.sum() == 0 && tail == 0
    }

    /// The multi-dimensional index of flat `index` in `shape`.
    static func position(of index: Int, in shape: [Int]) -> [Int] {
        var rest = index
        var result = [Int](repeating: 0, count: shape.count)
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            result[axis] = rest % shape[axis]
            rest /= shape[axis]
        }
        return result
    }

    static func describe(_ value: Double) -> String {
        value.isNaN ? "nan" : value > 0 ? "+inf" : "-inf"
    }
}

/// Set by any work item that wrote a non-finite output; read after the
/// parallel region.
final class NonFiniteFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    func raise() { raised.store(true, ordering: .relaxed) }
    var isRaised: Bool { raised.load(ordering: .relaxed) }
}

extension Validation {
    /// Throws ``TFLAError/nonFiniteValue(argument:index:value:requirement:)``
    /// at the first NaN or ±∞ of `tensor`.
    static func requireFinite<S: TensorScalar>(_ tensor: Tensor<S>, _ name: String, threads: Int = 1) throws(TFLAError) {
        guard let index = ValueCheck.firstNonFinite(tensor, threads: threads) else { return }
        let value = tensor.withUnsafeBufferPointer { $0[index].doubleValue }
        throw .nonFiniteValue(argument: name, index: ValueCheck.position(of: index, in: tensor.shape),
                              value: ValueCheck.describe(value), requirement: "must be finite")
    }
}

extension Validation {
    /// Shapes and finite values of the upstream gradients of a final state.
    static func requireStateGradients<S: TensorScalar>(
        _ d: MLSTMState<S>, _ shape: ProblemShape, prefix: String = "d"
    ) throws(TFLAError) {
        let names = prefix == "d" ? ("dc", "dn", "dm") : (prefix + "c", prefix + "n", prefix + "m")
        try requireStateShapes(d, shape, names: names)
        try requireFinite(d.c, names.0)
        try requireFinite(d.n, names.1)
        try requireFinite(d.m, names.2)
    }
}

extension MLSTMInputs {
    /// Checks the values of every input against the non-finite policy of
    /// `Documentation.docc/Math.md` ("Non-finite inputs"): q, k and v finite; gate
    /// pre-activations never NaN; for the exponential gate ĩ ≠ +∞, and
    /// not ĩ = f̃ = −∞ on the same token.
    ///
    /// Every kernel runs this check unless its options say otherwise
    /// (``ChunkwiseOptions/checksValues``); call it yourself to validate
    /// inputs once for many calls.
    /// - Throws: ``TFLAError/nonFiniteValue(argument:index:value:requirement:)``
    ///   naming the array and the first offending index.
    public func validateValues(gate: Gate, threads: Int? = nil) throws(TFLAError) {
        let workers = min(threads ?? Workers.defaultCount, Workers.maximumCount)
        try Validation.requireFinite(q, "q", threads: workers)
        try Validation.requireFinite(k, "k", threads: workers)
        try Validation.requireFinite(v, "v", threads: workers)
        try validateGateValues(gate: gate)
    }

    /// The gate part of ``validateValues(gate:threads:)``: O(B·NH·S), so the
    /// forward runs it before any work.
    func validateGateValues(gate: Gate) throws(TFLAError) {
        let failure: (String, Int, Double, String)? = i.withUnsafeBufferPointer { ib in
            f.withUnsafeBufferPointer { fb in
                for index in 0..<fb.count {
                    let (fv, iv) = (fb[index].doubleValue, ib[index].doubleValue)
                    if fv.isNaN { return ("f", index, fv, "must not be NaN (±inf are allowed: −inf resets the state)") }
                    if iv.isNaN { return ("i", index, iv, "must not be NaN (−inf is allowed: no input)") }
                    if gate.isStabilized && iv == .infinity {
                        return ("i", index, iv, "must be finite or −inf for the exponential gate")
                    }
                    if gate.isStabilized && iv == -.infinity && fv == -.infinity {
                        return ("i", index, iv,
                                "must be finite where f is −inf (exponential gate: a reset with no input leaves no finite stabilizer)")
                    }
                }
                return nil
            }
        }
        if let (name, index, value, requirement) = failure {
            throw .nonFiniteValue(argument: name, index: ValueCheck.position(of: index, in: f.shape),
                                  value: ValueCheck.describe(value), requirement: requirement)
        }
    }
}
