import RealModule

/// An element type a ``Tensor`` can hold: the kernels' `Float` and `Double`,
/// and the storage-only `Float16` and ``BFloat16``.
///
/// Conversions go through `Double`, which holds every value of every
/// supported type exactly.
public protocol TensorScalar: Sendable, Equatable, ExpressibleByIntegerLiteral {
    /// A short human-readable name (`"float32"`, `"bfloat16"`, …).
    static var dtypeName: String { get }
    /// The nearest value of this type (round to nearest even).
    static func rounded(from value: Double) -> Self
    /// The value as a Double (exact).
    var doubleValue: Double { get }
}

/// An element type that `.npy` files hold: `Float`, `Double`, `Float16`
/// and ``BFloat16`` (as NumPy with `ml_dtypes` saves it: see ``NPY``).
///
/// ``NPY/read(contentsOf:as:bfloat16Bits:)`` needs it; writing takes any
/// ``TensorScalar``.
public protocol NPYScalar: TensorScalar {
    /// The NumPy dtype string of this type, little-endian (`"<f4"`, `"<f8"`,
    /// `"<f2"`; `"<V2"` for bfloat16).
    static var npyDescriptor: String { get }
}

/// An element type the kernels compute in: `Float` or `Double`.
///
/// Kernels are generic over this protocol; `Real` supplies `exp`, `log` and
/// `log1p`. Matrix products go to `sgemm` or `dgemm` by the type (only
/// `Float` and `Double` conform).
public protocol KernelScalar: NPYScalar, BinaryFloatingPoint, Real {}

/// float32: an element type of tensors and `.npy` files, and a type the kernels compute in.
extension Float: TensorScalar, NPYScalar, KernelScalar {
    /// `"<f4"`.
    public static var npyDescriptor: String { "<f4" }
    /// `"float32"`.
    public static var dtypeName: String { "float32" }
    /// The nearest value of this type (round to nearest even).
    @inlinable public static func rounded(from value: Double) -> Self { Self(value) }
    /// The value as a Double (exact).
    @inlinable public var doubleValue: Double { Double(self) }
}

/// float64: an element type of tensors and `.npy` files, and a type the kernels compute in.
extension Double: TensorScalar, NPYScalar, KernelScalar {
    /// `"<f8"`.
    public static var npyDescriptor: String { "<f8" }
    /// `"float64"`.
    public static var dtypeName: String { "float64" }
    /// The nearest value of this type (round to nearest even).
    @inlinable public static func rounded(from value: Double) -> Double { value }
    /// The value as a Double (exact).
    @inlinable public var doubleValue: Double { self }
}

#if !((os(macOS) || targetEnvironment(macCatalyst)) && arch(x86_64))
/// float16: a storage type of tensors and `.npy` files (kernels compute in float32).
extension Float16: TensorScalar, NPYScalar {
    /// `"<f2"`.
    public static var npyDescriptor: String { "<f2" }
    /// `"float16"`.
    public static var dtypeName: String { "float16" }
    /// The nearest value of this type (round to nearest even).
    @inlinable public static func rounded(from value: Double) -> Self { Self(value) }
    /// The value as a Double (exact).
    @inlinable public var doubleValue: Double { Double(self) }
}
#endif
