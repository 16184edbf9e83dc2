import ArgumentParser
import Foundation
import TFLA

enum KernelChoice: String, ExpressibleByArgument, CaseIterable {
    case chunkwise, parallel, recurrent
}

enum GateChoice: String, ExpressibleByArgument, CaseIterable {
    case exp, sig
}

enum DTypeChoice: String, ExpressibleByArgument, CaseIterable {
    case float32, float64
}

// MARK: - Option groups shared by the oracle commands (`run`, `step`, `grad`)

/// The input gate, its normalization and the denominator's eps.
struct GateOptions: ParsableArguments {
    @Option(help: "Input gate: exp or sig.") var gate: GateChoice = .exp
    @Flag(help: "Sigmoid gate only: return q̂ᵀC without the normalizer.") var noNormalize = false
    // Unconditional: `--eps -1` is a (refused) value, not an option named -1.
    @Option(parsing: .unconditional, help: "Added to the denominator (finite, ≥ 0).") var eps: Double = 1e-6

    /// --eps in the compute dtype; refused when it does not fit there.
    func eps<S: KernelScalar>(as _: S.Type) throws -> S {
        let value = S(eps)
        if eps.isFinite, !value.isFinite {
            throw CommandFailure("--eps \(eps): out of range for \(S.dtypeName) (largest finite value \(S.greatestFiniteMagnitude))")
        }
        return value
    }

    func resolved() throws -> Gate {
        guard eps.isFinite, eps >= 0 else { throw CommandFailure("--eps \(eps): must be finite and at least 0") }
        switch gate {
        case .exp:
            if noNormalize { throw CommandFailure("--no-normalize applies to --gate sig only") }
            return .exponential
        case .sig:
            return .sigmoid(normalize: !noNormalize)
        }
    }
}

/// Where the arrays are read and written, the compute dtype and timed repeats.
struct IOOptions: ParsableArguments {
    @Option(name: .customLong("in"), help: "Directory with the input .npy files.") var input: String
    @Option(name: .customLong("out"), help: "Directory for the output .npy files (created if missing).") var output: String
    @Option(help: "Compute in this dtype (default: the inputs' dtype; float32 for float16 and bfloat16).") var dtype: DTypeChoice?
    @Flag(name: .customLong("bf16-bits"), help: "Read uint16 and int16 inputs (<u2, <i2) as the bit patterns of bfloat16 values (x.view(np.uint16), x.view(torch.int16)); without it they are refused. bfloat16 saved through ml_dtypes (<V2) needs no flag.")
    var bfloat16Bits = false
    @Option(name: .customLong("repeat"), help: "Run N timed repetitions after one warm-up; print kernel_seconds=<median> last on stderr.")
    var repeats: Int?

    func validateRepeats() throws {
        if let repeats, repeats < 1 { throw CommandFailure("--repeat must be at least 1, got \(repeats)") }
    }
}

/// The chunkwise kernel's tiling flags, shared by `run` and `grad`.
struct TilingOptions: ParsableArguments {
    @Option(help: "Chunkwise: tokens per chunk.") var chunkSize: Int?
    @Option(help: "Chunkwise: query rows per tile.") var queryTile: Int?
    // The 0.5 spellings (--kv-tile, --dqk-tile, --dhv-tile) stay accepted.
    @Option(name: [.customLong("key-tile"), .customLong("kv-tile")], help: "Chunkwise: key/value rows per tile.")
    var keyTile: Int?
    @Option(name: [.customLong("key-dim-tile"), .customLong("dqk-tile")], help: "Chunkwise: rows of C per state-kernel tile.")
    var keyDimTile: Int?
    @Option(name: [.customLong("value-dim-tile"), .customLong("dhv-tile")], help: "Chunkwise: columns of C and h per work item.")
    var valueDimTile: Int?
    @Option(help: "Chunkwise: worker threads (default: the cores available).") var threads: Int?
    @Option(help: "Chunkwise: the worker count the work decomposition is planned for; it decides the rounding, threads never do (default: the cores available, as `tfla info` prints).")
    var parallelism: Int?
    @Option(help: "Chunkwise: sequence segments scanned in parallel (default: planned from the shape and --parallelism).")
    var segments: Int?
    @Flag(help: "Chunkwise: skip the check for NaN and refused infinities (for inputs checked beforehand; such values then give unspecified results instead of an error).")
    var skipValueCheck = false

    /// The library's defaults (``ChunkwiseOptions/training`` for a
    /// forward + backward) with these flags applied.
    func options(training: Bool = false) -> ChunkwiseOptions {
        var options = training ? ChunkwiseOptions.training : ChunkwiseOptions.default
        options.keyDimTile = keyDimTile
        options.valueDimTile = valueDimTile
        options.threads = threads
        options.parallelism = parallelism
        options.segments = segments
        options.checksValues = !skipValueCheck
        if let chunkSize { options.chunkSize = chunkSize }
        if let queryTile { options.queryTile = queryTile }
        if let keyTile { options.keyTile = keyTile }
        return options
    }
}

extension GradientMode: ExpressibleByArgument {}

/// A failure reported as one line on stderr with exit status 2.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Runs a command body, turning library and file errors into one line on
/// stderr and a non-zero exit.
func reportingFailures(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as CommandFailure {
        throw fail(error.description)
    } catch let error as TFLAError {
        throw fail(error.description)
    } catch let error as NPYError {
        throw fail(error.description)
    } catch let error as ExitCode {
        throw error
    } catch {
        throw fail("\(error)")
    }
}

/// Runs `compute` once, or `repeats` times after a warm-up printing the
/// median kernel time (no file I/O) as the last line of stderr.
func timed<R>(repeats: Int?, _ compute: () throws -> R) throws -> R {
    var result = try compute()
    guard let repeats else { return result }
    let median = try Stopwatch.median(repeats: repeats, warmup: false) { result = try compute() }
    reportKernelSeconds(median)
    return result
}

/// Prints `kernel_seconds=<seconds>` as a line of stderr.
func reportKernelSeconds(_ seconds: Double) {
    var stderr = StandardError()
    print("kernel_seconds=\(seconds)", to: &stderr)
}
