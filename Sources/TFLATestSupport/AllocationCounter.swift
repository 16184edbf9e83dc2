import TFLA

/// Bytes the library has allocated for tensors and kernel scratch since the
/// process started (monotonic; frees are not subtracted). Benchmarks read
/// it before and after a call to report what the call allocated.
public enum AllocationCounter {
    /// Total bytes allocated by the library so far.
    public static var bytesAllocated: Int { AllocationTally.bytesAllocated }
}
