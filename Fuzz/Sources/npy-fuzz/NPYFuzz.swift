// libFuzzer target for the .npy reader (`make fuzz`, Docs/testing.md).
//
// Each input is read three times: from memory with `NPY.decode`, with and
// without `bfloat16Bits`, and from a file with `NPY.read(contentsOf:)`, the
// entry point `tfla` reads its inputs by.
// The input passes when both give the same answer and that answer is either
// an array consistent with the bytes, or an `NPYError` (typed throws make any
// other error impossible). Anything else stops the run with a crash report:
// a trap or sanitizer report inside the reader, or one of the checks below.
// Allocations are bounded by libFuzzer's `-malloc_limit_mb` (set by `make
// fuzz`): the reader must never allocate more than a small multiple of its
// input, whatever the header claims.
import Foundation
import TFLA

/// The file each input is written to for `NPY.read(contentsOf:)`.
private let scratchFile: String = {
    let directory = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
    return "\(directory)/npy-fuzz-\(getpid()).npy"
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = start.map { Data(bytes: $0, count: count) } ?? Data()
    let fromMemory = Result { () throws(NPYError) in try NPY.decode(data) }
    if case let .success(array) = fromMemory { check(array, against: data) }
    if case let .failure(error) = fromMemory {
        require(error.path == "<memory>", "decode named \(error.path), not <memory>")
        require(!error.description.isEmpty, "empty error description")
    }

    // With bfloat16Bits, the same answer, except that uint16 and int16
    // arrays are read as bfloat16 (or refused for what is wrong with them
    // as such) instead of refused for their dtype.
    let asBits = Result { () throws(NPYError) in try NPY.decode(data, bfloat16Bits: true) }
    let refusedBits: Bool
    if case let .failure(error) = fromMemory, case let .unsupportedDType(descr) = error.problem {
        refusedBits = ["<u2", "<i2"].contains(descr)
    } else {
        refusedBits = false
    }
    switch (fromMemory, asBits) {
    case let (.success(a), .success(b)):
        require(a.dtypeName == b.dtypeName && a.shape == b.shape && bytes(of: a) == bytes(of: b),
                "bfloat16Bits changed an array of another dtype")
    case let (.failure(a), .failure(b)):
        require(refusedBits || a.problem == b.problem, "bfloat16Bits changed the error: \(a.problem) vs \(b.problem)")
    case let (.failure(a), .success(b)):
        require(refusedBits, "bfloat16Bits accepted what was refused for \(a.problem)")
        require(b.dtypeName == "bfloat16", "bits read as \(b.dtypeName)")
        check(b, against: data)
    case let (.success(a), .failure(b)):
        fatalError("bfloat16Bits refused a \(a.dtypeName) array: \(b)")
    }

    writeScratch(data)
    let fromFile = Result { () throws(NPYError) in try NPY.read(contentsOf: scratchFile) }
    switch (fromMemory, fromFile) {
    case let (.success(a), .success(b)):
        require(a.dtypeName == b.dtypeName && a.shape == b.shape && bytes(of: a) == bytes(of: b),
                "NPY.read(contentsOf:) and NPY.decode disagree")
    case let (.failure(a), .failure(b)):
        require(b.path == scratchFile, "read named \(b.path), not the file")
        require(a.problem == b.problem, "different errors: \(a.problem) from memory, \(b.problem) from the file")
    default:
        fatalError("NPY.read(contentsOf:) and NPY.decode disagree: \(fromMemory) vs \(fromFile)")
    }
    return 0
}

/// An array the reader returned is what the bytes say: a dtype the reader
/// supports, a shape whose product is the element count, and elements that
/// are exactly the last count × size bytes of the input (no trailing bytes
/// are accepted); it round-trips through the writer's encoding.
private func check(_ array: NPYArray, against data: Data) {
    let sizes = ["float16": 2, "bfloat16": 2, "float32": 4, "float64": 8]
    guard let size = sizes[array.dtypeName] else { fatalError("unexpected dtype \(array.dtypeName)") }
    var elements = 1
    for dimension in array.shape {
        require(dimension >= 0, "negative dimension in \(array.shape)")
        let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
        require(!overflow, "shape \(array.shape) overflows")
        elements = product
    }
    let payload = bytes(of: array)
    require(payload.count == elements * size, "\(payload.count) bytes for shape \(array.shape) of \(array.dtypeName)")
    require(payload.count <= data.count, "more elements than input bytes")
    require(payload.elementsEqual(data.suffix(payload.count)), "elements differ from the input's last bytes")

    let again: NPYArray
    switch array {
    case let .float16(tensor): again = decodeOrCrash(NPY.encode(tensor))
    case let .bfloat16(tensor): again = decodeOrCrash(NPY.encode(tensor))
    case let .float32(tensor): again = decodeOrCrash(NPY.encode(tensor))
    case let .float64(tensor): again = decodeOrCrash(NPY.encode(tensor))
    }
    require(again.dtypeName == array.dtypeName && again.shape == array.shape && bytes(of: again) == payload,
            "round trip through NPY.encode changed the array")
    // Conversion keeps the shape and the element count.
    let converted = array.tensor(as: Double.self)
    require(converted.shape == array.shape && converted.count == elements, "conversion changed the shape")
}

private func decodeOrCrash(_ data: Data) -> NPYArray {
    do {
        return try NPY.decode(data)
    } catch {
        fatalError("NPY.decode refused what NPY.encode wrote: \(error)")
    }
}

/// The elements' bytes, in order.
private func bytes(of array: NPYArray) -> [UInt8] {
    switch array {
    case let .float16(tensor): return tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    case let .bfloat16(tensor): return tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    case let .float32(tensor): return tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    case let .float64(tensor): return tensor.withUnsafeBufferPointer { Array(UnsafeRawBufferPointer($0)) }
    }
}

private func writeScratch(_ data: Data) {
    let fd = open(scratchFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    require(fd >= 0, "cannot create \(scratchFile): \(String(cString: strerror(errno)))")
    defer { close(fd) }
    data.withUnsafeBytes { buffer in
        var done = 0
        while done < buffer.count {
            let n = write(fd, buffer.baseAddress! + done, buffer.count - done)
            require(n > 0, "cannot write \(scratchFile): \(String(cString: strerror(errno)))")
            done += n
        }
    }
}

private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError(message()) }
}
