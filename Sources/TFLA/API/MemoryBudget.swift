import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Sizes of what an entry point allocates on the caller's behalf, computed
/// with overflow checks before any work, and refused with a typed error when
/// the machine cannot hold them.
package enum MemoryBudget {
    /// The element count of a shape (or any product of sizes), or
    /// ``TFLAError/sizeOverflow(what:)`` when it does not fit an `Int`.
    package static func product(_ factors: [Int], what: String) throws(TFLAError) -> Int {
        var result = 1
        for factor in factors {
            let (next, overflow) = result.multipliedReportingOverflow(by: factor)
            guard !overflow else { throw .sizeOverflow(what: what) }
            result = next
        }
        return result
    }

    /// The sum of `parts` (each a product of sizes, the element size
    /// included), overflow-checked.
    package static func total(_ parts: [[Int]], what: String) throws(TFLAError) -> Int {
        var sum = 0
        for part in parts {
            let (next, overflow) = sum.addingReportingOverflow(try product(part, what: what))
            guard !overflow else { throw .sizeOverflow(what: what) }
            sum = next
        }
        return sum
    }

    /// Refuses `parts` (products of sizes, in bytes) when their sum
    /// overflows or exceeds the memory available.
    ///
    /// A reading of the available memory at most ``recentReadingNanoseconds``
    /// old admits, without reading again, a request of at most half of it
    /// (reading /proc/meminfo costs tens of microseconds, more than a tiny
    /// problem's kernel); any larger request, and every refusal, is decided
    /// on a fresh reading.
    package static func require(_ parts: [[Int]], for what: String) throws(TFLAError) {
        let bytes = try total(parts, what: what)
        if let recent = recentReading(), bytes <= recent / 2 { return }
        let available = availableBytes()
        remember(available)
        guard bytes <= available else { throw .insufficientMemory(what: what, bytes: bytes, available: available) }
    }

    /// How long a reading serves ``require(_:for:)`` (one second).
    package static let recentReadingNanoseconds: UInt64 = 1_000_000_000

    /// The last reading and when it was taken (monotonic nanoseconds; 0:
    /// none yet), behind one lock so that the pair is consistent.
    private static let lastReading = Mutex<(bytes: Int, at: UInt64)>((0, 0))

    private static func recentReading() -> Int? {
        let now = DispatchTime.now().uptimeNanoseconds
        let (bytes, at) = lastReading.withLock { $0 }
        return at != 0 && now &- at <= recentReadingNanoseconds ? bytes : nil
    }

    private static func remember(_ bytes: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        lastReading.withLock { $0 = (bytes, now) }
    }

    /// The memory this process can still get: `MemAvailable` plus
    /// `SwapFree` of /proc/meminfo (Linux), else the free physical pages;
    /// `Int.max` when neither can be read, so that the check never refuses
    /// what could succeed.
    package static func availableBytes() -> Int {
        if let text = meminfo() {
            if let memory = kibibytes("MemAvailable", in: text) {
                let (total, overflow) = (memory + (kibibytes("SwapFree", in: text) ?? 0)).multipliedReportingOverflow(by: 1024)
                return overflow ? .max : total
            }
        }
        #if canImport(Glibc)
        let pages = sysconf(Int32(_SC_AVPHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        if pages > 0, pageSize > 0 {
            let (bytes, overflow) = pages.multipliedReportingOverflow(by: pageSize)
            return overflow ? .max : bytes
        }
        #endif
        return .max
    }

    /// The bytes of /proc/meminfo (one read of up to 16 KiB), or nil.
    private static func meminfo() -> [UInt8]? {
        #if canImport(Glibc)
        let descriptor = open("/proc/meminfo", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var count = 0
        while count < buffer.count {
            let got = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress! + count, $0.count - count) }
            guard got > 0 else { break }
            count += got
        }
        return count > 0 ? Array(buffer[..<count]) : nil
        #else
        return (try? Data(contentsOf: URL(fileURLWithPath: "/proc/meminfo"))).map { [UInt8]($0) }
        #endif
    }

    /// The number after `key:` at the start of a line of `text` (kB), or nil.
    private static func kibibytes(_ key: String, in text: [UInt8]) -> Int? {
        let prefix = Array((key + ":").utf8)
        var start = 0
        while start < text.count {
            var end = start
            while end < text.count && text[end] != UInt8(ascii: "\n") { end += 1 }
            if end - start >= prefix.count && text[start..<start + prefix.count].elementsEqual(prefix) {
                var index = start + prefix.count
                while index < end && text[index] == UInt8(ascii: " ") { index += 1 }
                var value = 0, digits = 0
                while index < end, text[index] >= UInt8(ascii: "0"), text[index] <= UInt8(ascii: "9") {
                    let (times, o1) = value.multipliedReportingOverflow(by: 10)
                    let (next, o2) = times.addingReportingOverflow(Int(text[index] - UInt8(ascii: "0")))
                    guard !o1, !o2 else { return nil }
                    (value, digits, index) = (next, digits + 1, index + 1)
                }
                return digits > 0 && (index == end || text[index] == UInt8(ascii: " ")) ? value : nil
            }
            start = end + 1
        }
        return nil
    }
}

extension ProblemShape {
    /// Checks that every array of the problem has an element count (and a
    /// byte count, at 8 bytes an element) that fits an `Int`.
    package func requireAddressable() throws(TFLAError) {
        for (what, dims) in [("q, k (B·NH·S·DQK)", queryShape), ("v, h (B·NH·S·DHV)", valueShape),
                             ("the state C (B·NH·DQK·DHV)", memoryShape)] {
            _ = try MemoryBudget.product(dims + [8], what: what)
        }
    }

    /// A forward's outputs, h and the final state (C, n, m), in bytes.
    package func outputBytes(scalar size: Int) -> [[Int]] {
        [valueShape + [size], memoryShape + [size], normalizerShape + [size], stabilizerShape + [size]]
    }

    /// Gradients of q, k, v, i, f and the initial state, in bytes.
    func gradientBytes(scalar size: Int) -> [[Int]] {
        [queryShape + [2 * size], valueShape + [size], gateShape + [2 * size],
         memoryShape + [size], normalizerShape + [size], stabilizerShape + [size]]
    }

    /// `count` states (C, n, m) per (batch, head), in bytes: the initial and
    /// final states of packed sequences.
    func stateBytes(count: Int, scalar size: Int) -> [[Int]] {
        [[count, batchHeads, keyDim, valueDim + 1, size], [count, batchHeads, size]]
    }

    /// A chunkwise forward: outputs, the chunk states kept in training mode
    /// (every `tiling.stateStride`-th) and one scratch per worker.
    func chunkwiseForwardBytes(scalar size: Int, tiling: ResolvedTiling, training: Bool) -> [[Int]] {
        let chunks = (sequence + tiling.chunk - 1) / tiling.chunk
        let saved = (chunks + tiling.stateStride - 1) / tiling.stateStride
        let workers = max(1, min(tiling.threads, batchHeads * chunks))
        var parts = outputBytes(scalar: size) + [
            [workers, keyDim, tiling.dhv, size], [workers, tiling.chunk, keyDim + valueDim, size],
            [workers, tiling.query, tiling.kv, size]]
        if training {
            parts += [[batchHeads, saved, keyDim, valueDim, size], [batchHeads, saved, keyDim + 1, size], gateShape + [size]]
        }
        return parts
    }

    /// A chunkwise backward: gradients, per-token sums, and either one
    /// scratch per worker (its recomputed states sized by the stride) or,
    /// for a single head, the states and their gradients before every chunk.
    func chunkwiseBackwardBytes(scalar size: Int, tiling: ResolvedTiling) -> [[Int]] {
        let chunks = (sequence + tiling.chunk - 1) / tiling.chunk
        var parts = gradientBytes(scalar: size) + [gateShape + [3 * 8]]
        if batchHeads >= 2 {
            let workers = max(1, min(tiling.threads, batchHeads))
            parts += [[workers, tiling.stateStride + 1, keyDim, valueDim, size],
                      [workers, tiling.chunk, keyDim + valueDim, 2 * size], [workers, tiling.query, tiling.kv, 3 * size]]
        } else {
            parts += [[chunks, keyDim, valueDim, (tiling.stateStride > 1 ? 2 : 1) * size], [chunks, keyDim, 2 * size]]
        }
        return parts
    }
}

/// A kernel a command runs, for sizing its allocations before any input is
/// read (``ProblemShape/forwardRunBytes(_:scalar:)``).
package enum KernelWork {
    case chunkwise(ChunkwiseOptions)
    case parallel
    case recurrent
}

extension ProblemShape {
    /// Whether every dimension is at least 1 (sizes are computed only then;
    /// the kernels refuse the others with their own errors).
    private var isSizable: Bool { [batch, heads, sequence, keyDim, valueDim].allSatisfy { $0 >= 1 } }

    /// What a forward by `kernel` allocates: its outputs and working memory,
    /// as the kernel's own check counts them (empty when the shape or the
    /// options are invalid: the kernel refuses them later).
    package func forwardRunBytes(_ kernel: KernelWork, scalar size: Int) -> [[Int]] {
        guard isSizable else { return [] }
        switch kernel {
        case let .chunkwise(options):
            guard (try? options.validate()) != nil else { return [] }
            return chunkwiseForwardBytes(scalar: size, tiling: options.resolved(for: self), training: false)
        case .parallel: return [valueShape + [size], [sequence, 8]]
        case .recurrent: return outputBytes(scalar: size)
        }
    }

    /// What a gradient by `kernel` allocates: the training forward's
    /// outputs and saved states (chunkwise) and the backward's gradients
    /// and working memory.
    package func gradientRunBytes(_ kernel: KernelWork, scalar size: Int, stateStride: Int) -> [[Int]] {
        guard isSizable else { return [] }
        switch kernel {
        case let .chunkwise(options):
            guard (try? options.validate()) != nil, stateStride >= 1 else { return [] }
            let tiling = options.resolved(for: self, stateStride: stateStride, call: .training)
            return chunkwiseForwardBytes(scalar: size, tiling: tiling, training: true)
                + chunkwiseBackwardBytes(scalar: size, tiling: tiling)
        case .parallel: return gradientBytes(scalar: size) + [[sequence, sequence, 8]]
        case .recurrent: return gradientBytes(scalar: size) + [[sequence, keyDim + 1, valueDim + 1, size]]
        }
    }
}
