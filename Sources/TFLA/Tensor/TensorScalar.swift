import RealModule

/// An element type a ``Tensor`` can hold and the `.npy` format can carry.
public protocol TensorScalar: BinaryFloatingPoint, Sendable {
    /// The NumPy dtype string of this type, little-endian (`"<f4"`, `"<f8"`).
    static var npyDescriptor: String { get }
    /// A short human-readable name (`"float32"`, `"float64"`).
    static var dtypeName: String { get }
}

/// An element type the kernels compute in: `Float` or `Double`.
///
/// Kernels are generic over this protocol; `Real` supplies `exp`, `log` and
/// `log1p`, and the BLAS requirement routes matrix products to `sgemm` or
/// `dgemm`.
public protocol KernelScalar: TensorScalar, Real, BLASScalar, DecayRowScalar {}

extension Float: TensorScalar, KernelScalar {
    public static var npyDescriptor: String { "<f4" }
    public static var dtypeName: String { "float32" }
}

extension Double: TensorScalar, KernelScalar {
    public static var npyDescriptor: String { "<f8" }
    public static var dtypeName: String { "float64" }
}
