/// The fused step over caller-owned memory, for the C interface
/// (`tfla_step`): the kernel of ``InferenceState/step(q:k:v:i:f:into:)``
/// run in place on the caller's state, with no copy.
package enum PointerStep {
    /// One token for `heads` (batch × heads) recurrences: the state (c, n, m)
    /// is advanced in place and h written. The caller has validated the
    /// sizes, the pointers and the values; `threads` is clipped to
    /// `Workers.maximumCount`.
    package static func run<Scalar: KernelScalar>(
        heads: Int, keyDim: Int, valueDim: Int, gate: Gate, eps: Double, threads: Int?,
        q: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>,
        i: UnsafePointer<Scalar>, f: UnsafePointer<Scalar>,
        c: UnsafeMutablePointer<Scalar>, n: UnsafeMutablePointer<Scalar>, m: UnsafeMutablePointer<Scalar>,
        h: UnsafeMutablePointer<Scalar>
    ) {
        let gates = UnsafeMutablePointer<Double>.allocate(capacity: 3 * heads)
        defer { gates.deallocate() }
        let workers = min(threads ?? Workers.defaultCount, Workers.maximumCount)
        StepKernel.run(
            heads: heads, keyDim: keyDim, valueDim: valueDim, gate: gate, eps: eps, threads: workers,
            q: q, k: k, v: v, i: i, f: f, c: c, n: n, m: m, h: h,
            gates: StepKernel.Gates(forget: gates, input: gates + heads, stabilizer: gates + 2 * heads))
    }
}
