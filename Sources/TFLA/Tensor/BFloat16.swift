/// bfloat16: the upper half of a float32 (8 exponent bits, 7 fraction bits),
/// as a storage type of tensors and `.npy` files. Arithmetic happens in
/// float32 after conversion.
public struct BFloat16: TensorScalar, NPYScalar, Hashable, CustomStringConvertible {
    /// The raw bits.
    public var bitPattern: UInt16

    /// The bfloat16 with these bits.
    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// The nearest bfloat16 (round to nearest, ties to even; NaN stays NaN).
    public init(_ value: Float) { bitPattern = Self.roundedBits(value) }

    /// The bits of the bfloat16 nearest to `value`: round to nearest, ties
    /// to even; a NaN keeps its sign and upper payload bits and is made
    /// quiet. Branch-free, so that loops over it vectorize
    /// (`MemoryStorage.narrow`).
    @inline(__always)
    static func roundedBits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16
        let quietNaN = (bits >> 16) | 0x0040
        let isNaN = bits & 0x7FFF_FFFF > 0x7F80_0000
        return UInt16(truncatingIfNeeded: isNaN ? quietNaN : rounded)
    }

    /// The value as a float32 (exact).
    public var floatValue: Float { Self.widened(bitPattern) }

    /// The float32 of the bfloat16 with these bits (exact): the one
    /// widening, as `roundedBits` is the one narrowing.
    @inline(__always)
    static func widened(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Rounds through float32 (two roundings; they can differ from one only
    /// on exact float32 ties, far below bfloat16 resolution).
    public static func rounded(from value: Double) -> BFloat16 { BFloat16(Float(value)) }
    /// The value as a Double (exact).
    public var doubleValue: Double { Double(floatValue) }
    /// The bfloat16 nearest to an integer literal.
    public init(integerLiteral value: Int) { self.init(Float(value)) }

    /// `"bfloat16"`, the name `ml_dtypes` gives it (NumPy itself has no
    /// bfloat16 dtype).
    public static var dtypeName: String { "bfloat16" }
    /// `"<V2"`: what `np.save` writes for an `ml_dtypes.bfloat16` array (a
    /// 2-byte void dtype; ``NPY`` says how such files are read).
    public static var npyDescriptor: String { "<V2" }
    /// The value as a float32 prints it.
    public var description: String { floatValue.description }

    /// Equality of values (+0 == −0; NaN is unequal to everything).
    public static func == (lhs: BFloat16, rhs: BFloat16) -> Bool { lhs.floatValue == rhs.floatValue }
    /// Hashes the value (+0 and −0 alike), consistent with `==`.
    public func hash(into hasher: inout Hasher) { hasher.combine(floatValue == 0 ? 0 : bitPattern) }
}
