import COpenBLAS
import CTFLAKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How OpenBLAS runs in this process: which kernels and how many threads.
///
/// OpenBLAS picks its kernels ("core") when it is loaded. Debian 12's
/// OpenBLAS 0.3.21 does not recognise recent Intel CPUs and falls back to its
/// SSE3 "Prescott" kernels, about 5× slower than its AVX-512 ones. On first
/// use the library therefore checks the choice and, when OpenBLAS settled for
/// a core weaker than the CPU supports, re-runs the selection with a core the
/// CPU is verified (cpuid and xgetbv) to run. A user's own
/// `OPENBLAS_CORETYPE` is always respected, and AVX-512 kernels are never
/// chosen on a CPU without AVX-512.
///
/// It also fixes OpenBLAS to one thread: the kernels parallelize over their
/// own work items, and OpenBLAS threads inside those workers would
/// oversubscribe the cores. This setting is process-wide.
public struct BLASConfiguration: Sendable, CustomStringConvertible {
    /// Why OpenBLAS runs the core it runs.
    public enum CoreChoice: Sendable, Equatable {
        /// OpenBLAS's own detection was kept (it matched the CPU, or there
        /// was nothing better that is safe to force).
        case detected
        /// The user set `OPENBLAS_CORETYPE`; it was left alone.
        case userEnvironment(String)
        /// The library replaced OpenBLAS's choice `previous` by a stronger
        /// core the CPU supports.
        case upgraded(previous: String)
        /// An upgrade was attempted but OpenBLAS kept `previous`.
        case upgradeFailed(previous: String, attempted: String)
    }

    /// The core OpenBLAS reports (`openblas_get_corename`), e.g. `"SkylakeX"`.
    public let coreName: String
    /// How that core came to be chosen.
    public let choice: CoreChoice
    /// OpenBLAS's build description (`openblas_get_config`).
    public let buildConfig: String
    /// Threads OpenBLAS itself uses per call (1: the library parallelizes).
    public let threads: Int

    /// The configuration in one line, as `tfla info` prints it.
    public var description: String {
        let how: String
        switch choice {
        case .detected: how = "detected by OpenBLAS"
        case let .userEnvironment(value): how = "OPENBLAS_CORETYPE=\(value) from the environment"
        case let .upgraded(previous): how = "selected by TFLA; OpenBLAS had detected \(previous)"
        case let .upgradeFailed(previous, attempted): how = "OpenBLAS refused \(attempted), kept \(previous)"
        }
        return "OpenBLAS core \(coreName) (\(how)), \(threads) BLAS thread(s)"
    }
}

/// The process's OpenBLAS, configured once on first use.
public enum BLAS {
    /// The configuration in force; reading it configures OpenBLAS if that has
    /// not happened yet. Every kernel that calls BLAS reads it first.
    public static var configuration: BLASConfiguration { configured }

    private static let configured: BLASConfiguration = configure()

    /// Kernels from OpenBLAS's DYNAMIC_ARCH table, strongest class first.
    /// Names in `weakCores` are upgraded; any other (newer, or non-x86) name is
    /// trusted as it is.
    static let weakCores: Set<String> = [
        "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge",
        "Atom", "Katmai", "Coppermine", "Northwood", "Banias", "Athlon",
        "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat", "Bulldozer",
        "Piledriver", "Steamroller", "Excavator", "Nano", "Unknown", "generic",
    ]

    /// The strongest core that is safe on this CPU, or nil.
    static func safeCore(for features: tfla_cpu_features) -> String? {
        if features.avx512f && features.avx512bw && features.avx512dq && features.avx512vl {
            return "SkylakeX"
        }
        if features.avx2 && features.fma {
            return "Haswell"
        }
        return nil
    }

    private static func coreName() -> String {
        guard let name = openblas_get_corename() else { return "Unknown" }
        return String(cString: name)
    }

    private static func configure() -> BLASConfiguration {
        let choice: BLASConfiguration.CoreChoice
        let detected = coreName()
        if let user = getenv("OPENBLAS_CORETYPE"), user.pointee != 0 {
            choice = .userEnvironment(String(cString: user))
        } else if weakCores.contains(detected),
                  let target = safeCore(for: tfla_detect_cpu_features()),
                  target != detected {
            choice = reselect(target, previous: detected)
        } else {
            choice = .detected
        }
        openblas_set_num_threads(1)
        let config = openblas_get_config().map { String(cString: $0) } ?? ""
        return BLASConfiguration(
            coreName: coreName(), choice: choice, buildConfig: config,
            threads: Int(openblas_get_num_threads()))
    }

    /// Re-runs OpenBLAS's kernel selection with `OPENBLAS_CORETYPE` set, then
    /// removes the variable again so child processes see the environment the
    /// user gave. The two entry points exist only in DYNAMIC_ARCH builds,
    /// hence the lookup by name.
    private static func reselect(_ target: String, previous: String) -> BLASConfiguration.CoreChoice {
        typealias Entry = @convention(c) () -> Void
        guard let quitSymbol = dlsym(nil, "gotoblas_dynamic_quit"),
              let initSymbol = dlsym(nil, "gotoblas_dynamic_init")
        else {
            return .upgradeFailed(previous: previous, attempted: target)
        }
        setenv("OPENBLAS_CORETYPE", target, 1)
        unsafeBitCast(quitSymbol, to: Entry.self)()
        unsafeBitCast(initSymbol, to: Entry.self)()
        unsetenv("OPENBLAS_CORETYPE")
        let now = coreName()
        return now == previous ? .upgradeFailed(previous: previous, attempted: target) : .upgraded(previous: previous)
    }
}
