import CTFLAKernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The library's worker threads (its only level of parallelism).
public enum Workers {
    /// The number of cores this process may run on: the default thread count.
    public static var defaultCount: Int {
        let available = Int(tfla_available_cpus())
        return available > 0 ? available : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// The most threads (and planned workers) an option can ask for; larger
    /// values are clipped to it, so that no count derived from them
    /// overflows. Results do not depend on the thread count.
    public static var maximumCount: Int { 1 << 16 }
}
