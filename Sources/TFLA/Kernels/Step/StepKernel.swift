import CTFLAKernels
import RealModule

/// The fused generation step (`Documentation.docc/Math.md` §1, one step of the recurrent
/// form), in place on a state, for all batch entries and heads at once.
///
/// Each work item — a head and a tile of C's columns — makes one pass over
/// its tile of C: C ← f′·C + i′·k vᵀ and, in the same pass, h ← q̂ᵀC. The
/// denominator needs q̂·n′ = f′·(q̂·n) + i′·(q̂·k), which reads only the old
/// n, so items never wait for each other; n and m are advanced after the
/// parallel pass. Every column is computed the same way whatever the tiling,
/// so results do not depend on tiles or threads.
enum StepKernel {
    /// Per-head gate values, computed once per step into caller-owned
    /// buffers (no allocation per step).
    struct Gates {
        let forget: UnsafeMutablePointer<Double>
        let input: UnsafeMutablePointer<Double>
        let stabilizer: UnsafeMutablePointer<Double>
    }

    /// C kept in 16 bits: the raw storage and a row buffer of
    /// `heads × valueDim` elements of the compute type (one row per work
    /// item at a time; float16 only). 16-bit storage widens to and narrows
    /// from float32, so the compute type must be Float (checked at the
    /// kernel's entry). bfloat16 goes through the fused kernel
    /// `tfla_bf16_step_rows` (`CTFLAKernels/bf16_step.c`), which converts in
    /// registers and needs no row buffer; it computes C′ = fma(f′, C, (i′k)·v)
    /// and h = Σ fma(q, C′, h) in float32 and rounds C′ to nearest even.
    struct HalfMemory<Scalar: KernelScalar> {
        let format: MemoryStorage
        let bits: UnsafeMutablePointer<UInt16>
        let rows: UnsafeMutablePointer<Scalar>
        /// For bfloat16: the AVX512-BF16 path of the fused kernel
        /// (`tfla_bf16_step_rows`) rather than its portable loop. Both give
        /// the same bits.
        let vectorBF16: Bool

        /// Widens `count` values at `offset` of the bits into `row`.
        @inline(__always)
        func widen(_ offset: Int, count: Int, into row: UnsafeMutablePointer<Scalar>) {
            row.withMemoryRebound(to: Float.self, capacity: count) { format.widen(bits + offset, count: count, into: $0) }
        }

        /// Narrows `count` values of `row` into the bits at `offset`.
        @inline(__always)
        func narrow(_ row: UnsafeMutablePointer<Scalar>, count: Int, into offset: Int) {
            row.withMemoryRebound(to: Float.self, capacity: count) { format.narrow($0, count: count, into: bits + offset) }
        }
    }

    /// Whether this CPU runs the fused bfloat16 step's AVX512-BF16 path
    /// (checked once: cpuid is slow, in a virtual machine especially).
    static let hasVectorBF16: Bool = tfla_cpu_has_avx512_bf16()

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func run<Scalar: KernelScalar>(
        heads: Int, keyDim dqk: Int, valueDim dhv: Int, gate: Gate, eps: Double, threads: Int,
        q: UnsafePointer<Scalar>, k: UnsafePointer<Scalar>, v: UnsafePointer<Scalar>,
        i: UnsafePointer<Scalar>, f: UnsafePointer<Scalar>,
        c: UnsafeMutablePointer<Scalar>, n: UnsafeMutablePointer<Scalar>, m: UnsafeMutablePointer<Scalar>,
        h: UnsafeMutablePointer<Scalar>, gates: Gates, half: HalfMemory<Scalar>? = nil
    ) {
        // With C in 16 bits each row is widened into the row buffer as
        // float32 (the buffer is rebound to Float for that, which needs
        // Scalar == Float); InferenceState refuses other combinations before
        // it gets here.
        precondition(half == nil || Scalar.self == Float.self, "16-bit memory storage needs Float computation")
        for head in 0..<heads {
            let rule = StabilizerRule(gate: gate, token: Double(f[head]), Double(i[head]), previous: Double(m[head]))
            gates.forget[head] = rule.carriedScale
            gates.input[head] = rule.newScale
            gates.stabilizer[head] = rule.stabilizer
        }
        // A worker per 512 KiB of C at most: below that a worker's share
        // (≈ 16 µs of streaming) no longer pays for its part of the region's
        // synchronization. Measured on 16 cores: a 4 MiB state stepped in
        // 43 µs on 8 workers and 128 µs on 16 (`Docs/log/many-cores.md`, "Step 6", "Step 7").
        let memoryBytes = heads * dqk * dhv * (half == nil ? MemoryLayout<Scalar>.size : 2)
        let workers = max(1, min(threads, memoryBytes / (512 << 10)))
        // Split C's columns until there are four items per worker (uneven
        // items balance out); 64 columns or more per item keep the inner
        // loop vectorized. Tiles never change the bits (see above).
        var tiles = 1
        while heads * tiles < 4 * workers, dhv / (tiles * 2) >= 64 { tiles *= 2 }
        let tileCount = tiles
        let width = (dhv + tiles - 1) / tiles
        let scale = 1 / Double(dqk).squareRoot()
        let shared = UnsafeSendable((q, k, v, c, n, h, gates, half))
        parallelForStatic(items: heads * tileCount, threads: workers) { item in
            let (q, k, v, c, n, h, gates, half) = shared.value
            let head = item / tileCount
            let start = (item % tileCount) * width
            let count = min(width, dhv - start)
            let forget = Scalar(gates.forget[head]), input = Scalar(gates.input[head])
            let qh = q + head * dqk, kh = k + head * dqk, nh = n + head * dqk
            let vh = v + head * dhv + start
            let hh = h + head * dhv + start
            var qn: Scalar = 0, qk: Scalar = 0
            for d in 0..<dqk {
                qn += qh[d] * nh[d]
                qk += qh[d] * kh[d]
            }
            if let half, half.format == .bfloat16 {
                // C in bfloat16: one fused pass widens, updates, accumulates
                // the numerator into hh and narrows, in registers.
                tfla_bf16_step_rows(
                    half.vectorBF16, dqk, count, dhv, Float(gates.forget[head]), Float(gates.input[head]),
                    floats(qh), floats(kh), floats(vh), half.bits + head * dqk * dhv + start, floats(hh))
            } else {
                accumulate(dqk: dqk, dhv: dhv, count: count, head: head, start: start, forget: forget, input: input,
                           q: qh, k: kh, v: vh, c: c, h: hh, half: half)
            }
            let s = Scalar(scale)
            guard gate.normalizes else {
                for col in 0..<count { hh[col] *= s }
                return
            }
            let dot = s * (forget * qn + input * qk)
            let floor = Scalar(Double.exp(-gates.stabilizer[head]))
            let denominator = max(abs(dot), floor) + Scalar(eps)
            guard denominator != 0 else { divide(hh, count: count, by: denominator); return }
            let factor = s / denominator
            for col in 0..<count { hh[col] *= factor }
        }
        for head in 0..<heads {
            let forget = Scalar(gates.forget[head]), input = Scalar(gates.input[head])
            let nh = n + head * dqk, kh = k + head * dqk
            for d in 0..<dqk { nh[d] = forget * nh[d] + input * kh[d] }
            m[head] = Scalar(gates.stabilizer[head])
        }
    }

    /// The pass over one work item's tile for C in the compute type or in
    /// float16: C ← f′·C + i′·k vᵀ and h ← q̂ᵀC (numerator, unscaled), with
    /// 16-bit rows widened into the item's slice of the row buffer.
    @inline(__always)
    private static func accumulate<Scalar: KernelScalar>(
        dqk: Int, dhv: Int, count: Int, head: Int, start: Int, forget: Scalar, input: Scalar,
        q qh: UnsafePointer<Scalar>, k kh: UnsafePointer<Scalar>, v vh: UnsafePointer<Scalar>,
        c: UnsafeMutablePointer<Scalar>, h hh: UnsafeMutablePointer<Scalar>, half: HalfMemory<Scalar>?
    ) {
        for col in 0..<count { hh[col] = 0 }
        for d in 0..<dqk {
            let offset = (head * dqk + d) * dhv + start
            // With 16-bit storage the row is widened into this item's own
            // slice of the row buffer (items cover disjoint columns).
            let row = half.map { half in
                let buffer = half.rows + head * dhv + start
                half.widen(offset, count: count, into: buffer)
                return buffer
            } ?? c + offset
            let weightedKey = input * kh[d]
            let query = qh[d]
            for col in 0..<count {
                let updated = forget * row[col] + weightedKey * vh[col]
                row[col] = updated
                hh[col] += query * updated
            }
            if let half {
                half.narrow(half.rows + head * dhv + start, count: count, into: offset)
            }
        }
    }

    /// `pointer` as float32 (the compute type is Float wherever C is in
    /// bfloat16).
    @inline(__always)
    private static func floats<Scalar>(_ pointer: UnsafePointer<Scalar>) -> UnsafePointer<Float> {
        UnsafeRawPointer(pointer).assumingMemoryBound(to: Float.self)
    }

    @inline(__always)
    private static func floats<Scalar>(_ pointer: UnsafeMutablePointer<Scalar>) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Float.self)
    }
}
