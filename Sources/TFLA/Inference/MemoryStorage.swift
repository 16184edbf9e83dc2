/// How an ``InferenceState`` stores its matrix memory C (the bulk of the
/// state: DQK·DHV per head). n and m always stay in the compute precision:
/// m is a log-scale that grows with the sequence, and rounding it would
/// rescale all of C.
public enum MemoryStorage: Sendable, Hashable {
    /// C in the compute type (Float or Double).
    case native
    /// C in IEEE half precision (11 significant bits), float32 arithmetic.
    case float16
    /// C in bfloat16 (8 significant bits), float32 arithmetic.
    ///
    /// The step updates C in one fused pass: each row is widened, updated
    /// (C′ = fma(f′, C, (i′k)·v)), accumulated into h (fma) and rounded back
    /// to nearest even in registers, with AVX512-BF16 where the CPU has it
    /// and a portable loop of the same bits elsewhere.
    case bfloat16

    /// 16-bit values → float32.
    func widen(_ source: UnsafePointer<UInt16>, count: Int, into target: UnsafeMutablePointer<Float>) {
        switch self {
        case .float16:
            for index in 0..<count { target[index] = Float(Float16(bitPattern: source[index])) }
        case .bfloat16:
            for index in 0..<count { target[index] = BFloat16.widened(source[index]) }
        case .native:
            preconditionFailure("native storage has no 16-bit form")
        }
    }

    /// float32 → 16-bit values (round to nearest even).
    func narrow(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<UInt16>) {
        switch self {
        case .float16:
            for index in 0..<count { target[index] = Float16(source[index]).bitPattern }
        case .bfloat16:
            for index in 0..<count { target[index] = BFloat16.roundedBits(source[index]) }
        case .native:
            preconditionFailure("native storage has no 16-bit form")
        }
    }
}
