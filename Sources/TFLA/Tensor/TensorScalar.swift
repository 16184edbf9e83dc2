import RealModule

/// An element type a ``Tensor`` can hold: the kernels' `Float` and `Double`,
/// and the storage-only `Float16` and ``BFloat16``.
///
/// Conversions go through `Double`, which holds every value of every
/// supported type exactly.
public protocol TensorScalar: Sendable, Equatable, ExpressibleByIntegerLiteral {
    /// The NumPy dtype string of this type, little-endian (`"<f4"`, `"<f8"`,
    /// `"<f2"`), or nil when NumPy has no such dtype.
    static var npyDescriptor: String? { get }
    /// A short human-readable name (`"float32"`, `"bfloat16"`, …).
    static var dtypeName: String { get }
    /// The nearest value of this type (round to nearest even).
    static func rounded(from value: Double) -> Self
    /// The value as a Double (exact).
    var doubleValue: Double { get }
}

/// An element type the kernels compute in: `Float` or `Double`.
///
/// Kernels are generic over this protocol; `Real` supplies `exp`, `log` and
/// `log1p`. Matrix products go to `sgemm` or `dgemm` by the type (only
/// `Float` and `Double` conform).
public protocol KernelScalar: TensorScalar, BinaryFloatingPoint, Real {}

extension Float: TensorScalar, KernelScalar {
    public static var npyDescriptor: String? { "<f4" }
    public static var dtypeName: String { "float32" }
    @inlinable public static func rounded(from value: Double) -> Self { Self(value) }
    @inlinable public var doubleValue: Double { Double(self) }
}

extension Double: TensorScalar, KernelScalar {
    public static var npyDescriptor: String? { "<f8" }
    public static var dtypeName: String { "float64" }
    @inlinable public static func rounded(from value: Double) -> Double { value }
    @inlinable public var doubleValue: Double { self }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
extension Float16: TensorScalar {
    public static var npyDescriptor: String? { "<f2" }
    public static var dtypeName: String { "float16" }
    @inlinable public static func rounded(from value: Double) -> Self { Self(value) }
    @inlinable public var doubleValue: Double { Double(self) }
}
#endif
