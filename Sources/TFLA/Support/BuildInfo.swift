import CTFLAKernels

/// What this binary and this CPU can do, for reports (`tfla info`).
public enum BuildInfo {
    /// The widest vector extension the library was compiled for ("AVX-512",
    /// "AVX2", ... or "baseline" when built without target flags).
    public static var compiledISA: String { String(cString: tfla_build_isa()) }

    /// The widest vector extension the running CPU and OS support.
    public static var cpuISA: String {
        let f = tfla_detect_cpu_features()
        if f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl { return "AVX-512" }
        if f.avx2 && f.fma { return "AVX2" }
        if f.avx { return "AVX" }
        if f.sse42 { return "SSE4.2" }
        return "baseline"
    }

    /// The library's version.
    public static let version = "0.7.2"

    /// A one-line warning when the library was compiled for less than the
    /// CPU supports (a build without the Makefile's `-Xcc -march=…` flags
    /// ran the forward 1.15–1.25× and the step 1.4–1.7× slower); nil when
    /// the build uses what the CPU has.
    public static var underTargetedBuildWarning: String? {
        let order = ["non-x86", "baseline", "SSE4.2", "AVX", "AVX2", "AVX-512"]
        guard let built = order.firstIndex(of: compiledISA), let available = order.firstIndex(of: cpuISA),
              built < available, compiledISA != "non-x86" else { return nil }
        return "warning: built for \(compiledISA) but this CPU supports \(cpuISA); build with "
            + "`-Xcc -march=\(cpuISA == "AVX-512" ? "x86-64-v4" : "x86-64-v3") -Xcc -fno-math-errno` "
            + "(Scripts/setup/swift-flags.sh) for full speed"
    }
}
