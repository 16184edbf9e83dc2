// swift-tools-version: 6.1
//
// Fuzz targets for TFLA, kept out of the main package: a libFuzzer target
// has no `main` of its own (libFuzzer provides it), so it only links with
// `--sanitize=fuzzer`. Built and run by `make fuzz` (see Docs/testing.md).
import PackageDescription

let package = Package(
    name: "TFLAFuzz",
    dependencies: [
        .package(name: "TFLA", path: ".."),
    ],
    targets: [
        // The .npy reader: NPY.decode on the input bytes and NPY.read on the
        // same bytes written to a file (the path `tfla` reads its inputs by).
        .executableTarget(
            name: "npy-fuzz",
            dependencies: [.product(name: "TFLA", package: "TFLA")],
            // No top-level code: the entry point is LLVMFuzzerTestOneInput.
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)
