// swift-tools-version: 6.1
//
// TFLA: Tiled Flash Linear Attention (mLSTM kernels) for the CPU.
//
// Speed needs target flags that a manifest cannot impose on its users
// (`unsafeFlags` are refused for remote dependencies). The Makefile passes
// them on the command line; README.md ("Build flags") explains how a
// downstream package gets the same code generation.
import PackageDescription

let package = Package(
    name: "TFLA",
    products: [
        .library(name: "TFLA", targets: ["TFLA"]),
        .executable(name: "tfla", targets: ["tfla"]),
        .executable(name: "tfla-bench", targets: ["tfla-bench"]),
        // The C interface (Sources/CTFLAABI/include/tfla.h) as libtfla_c.so.
        .library(name: "tfla_c", type: .dynamic, targets: ["TFLAABI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
        // `swift package generate-documentation --target TFLA` (build-time only).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // Property-based tests (test target only).
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
    ],
    targets: [
        // The system OpenBLAS (Debian: libopenblas-dev). Linked as `openblas`,
        // never as `blas`, which may resolve to the slow reference BLAS.
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // The C kernels and what only C can know: the bf16 products on AMX
        // tiles and AVX512-BF16 with their per-thread scratch, the fused
        // bf16 step, CPU feature detection (cpuid/xgetbv), the floating-point
        // mode and the CPUs this process may use.
        .target(name: "CTFLAKernels"),
        .target(
            name: "TFLA",
            dependencies: [
                "COpenBLAS",
                "CTFLAKernels",
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        // The C interface: its header (the contract) and its implementation,
        // which takes the header's structs, so that layouts cannot drift.
        .target(name: "CTFLAABI"),
        .target(name: "TFLAABI", dependencies: ["TFLA", "CTFLAABI"]),
        // Seeded random problems and the allocation counter, for this
        // package's tests and benchmarks; not in the TFLA product, and not
        // linked by `tfla` (its demos carry their own seeded generator).
        .target(
            name: "TFLATestSupport",
            dependencies: [
                "TFLA",
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        .executableTarget(
            name: "tfla",
            dependencies: [
                "TFLA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "RealModule", package: "swift-numerics"),
            ]
        ),
        // Benchmarks: definitions and measurement (Kit), and the release-build
        // program that prints them (Runner). Not timed tests: see Docs/performance.md.
        .target(
            name: "TFLABenchmarkKit",
            dependencies: ["TFLA", "TFLATestSupport"],
            path: "Benchmarks/Kit"
        ),
        .executableTarget(
            name: "tfla-bench",
            dependencies: [
                "TFLA",
                "TFLABenchmarkKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/Runner"
        ),
        .testTarget(
            name: "TFLATests",
            dependencies: [
                "TFLA",
                "TFLATestSupport",
                "CTFLAKernels",
                "TFLAABI",
                "CTFLAABI",
                .product(name: "RealModule", package: "swift-numerics"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
