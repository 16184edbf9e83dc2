import CTFLAKernels

extension BLASConfiguration {
    /// The vector extension an OpenBLAS core's kernels use: "AVX-512",
    /// "AVX2" or "below AVX2" for the x86 cores; nil for a name not known
    /// here (trusted as it is).
    static func coreISA(_ name: String) -> String? {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return "AVX-512"
        case "haswell", "zen": return "AVX2"
        case _ where BLAS.weakCores.contains(where: { $0.lowercased() == name.lowercased() }): return "below AVX2"
        default: return nil
        }
    }

    /// A one-line warning when `OPENBLAS_CORETYPE` in the environment forces
    /// a core weaker than the CPU supports (the library respects the
    /// variable, so nothing else would tell: the Haswell core on an AVX-512
    /// CPU ran the 7B-head forward 1.5× slower); nil otherwise.
    public var forcedWeakCoreWarning: String? {
        guard case let .userEnvironment(value) = choice, let core = Self.coreISA(coreName),
              let strongest = BLAS.safeCore(for: tfla_detect_cpu_features()), let best = Self.coreISA(strongest) else { return nil }
        let order = ["below AVX2", "AVX2", "AVX-512"]
        guard let running = order.firstIndex(of: core), let possible = order.firstIndex(of: best), running < possible else { return nil }
        return "warning: OPENBLAS_CORETYPE=\(value) in the environment selects the OpenBLAS core \(coreName) (\(core)) "
            + "but this CPU supports \(best) (core \(strongest)); unset OPENBLAS_CORETYPE for full speed"
    }
}
