import Foundation
import Testing
import TFLA

/// bfloat16 `.npy` files as NumPy writes them: `np.save` of an
/// `ml_dtypes.bfloat16` array (`<V2`, NumPy 1.26 and 2.x), and the bits of
/// one viewed as uint16 or int16 (`<u2`, `<i2`).
@Suite("NPY bfloat16")
struct NPYBFloat16Tests {
    /// The bytes `np.save` writes: the header dict exactly as NumPy formats
    /// it, padded with spaces and a newline so that the data starts at a
    /// multiple of 64 bytes (format version 1.0), then `payload`.
    static func numpyFile(descriptor: String, shape: [Int], payload: [UInt8]) -> Data {
        let dims = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descriptor)', 'fortran_order': False, 'shape': \(dims), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        let length = header.utf8.count
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + payload)
    }

    /// The little-endian bytes of bfloat16 bit patterns.
    static func payload(_ bits: [UInt16]) -> [UInt8] { bits.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }

    /// `np.save(f, np.array([[1.5, -2.0, 3.140625]], dtype=ml_dtypes.bfloat16))`
    /// writes these bytes (header length 0x76, data c03f 00c0 4940).
    static var sample: Data {
        numpyFile(descriptor: "<V2", shape: [1, 3], payload: [0xC0, 0x3F, 0x00, 0xC0, 0x49, 0x40])
    }

    @Test func readsWhatNumpyWritesForMLDtypes() throws {
        #expect(Self.sample[8] == 0x76 && Self.sample[9] == 0, "not the header length numpy writes")
        let array = try NPY.decode(Self.sample)
        guard case let .bfloat16(tensor) = array else {
            Issue.record("read as \(array.dtypeName), not bfloat16")
            return
        }
        #expect(array.dtypeName == "bfloat16")
        #expect(tensor.shape == [1, 3])
        #expect(tensor.scalars.map(\.floatValue) == [1.5, -2, 3.140625])
        #expect(array.tensor(as: Float.self).scalars == [1.5, -2, 3.140625])
        // NumPy's own spelling of a plain 2-byte void array reads the same.
        let plain = Self.numpyFile(descriptor: "|V2", shape: [1, 3], payload: Self.payload(tensor.scalars.map(\.bitPattern)))
        #expect(try NPY.decode(plain).tensor(as: BFloat16.self) == tensor)
    }

    /// The writer's bytes are numpy's, byte for byte, so that `np.load`
    /// followed by `.view(ml_dtypes.bfloat16)` gives the array back.
    @Test func writesWhatNumpyWrites() throws {
        let tensor = try Tensor<BFloat16>(shape: [1, 3], scalars: [1.5, -2, 3.140625].map { BFloat16(Float($0)) })
        #expect(NPY.encode(tensor) == Self.sample)
    }

    @Test func roundTripsEveryBitPattern() throws {
        let directory = NSTemporaryDirectory() + "tfla-npy-bf16-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Zeros of both signs, infinities, NaNs, subnormals, the extremes.
        let bits: [UInt16] = [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0xFFC1, 0x0001, 0x807F, 0x7F7F, 0x3F80, 0xC049]
        let tensor = try Tensor<BFloat16>(shape: [bits.count], scalars: bits.map { BFloat16(bitPattern: $0) })
        let path = directory + "/x.npy"
        try NPY.write(tensor, to: path)
        let back = try NPY.read(contentsOf: path, as: BFloat16.self)
        #expect(back.scalars.map(\.bitPattern) == bits)
        #expect(try NPY.header(contentsOf: path) == NPYArrayHeader(shape: [bits.count], elementSize: 2, dtypeName: "bfloat16"))
        #expect(throws: NPYError(path: path, problem: .dtypeMismatch(expected: "float32", found: "bfloat16"))) {
            try NPY.read(contentsOf: path, as: Float.self)
        }
        // The float32 form stays a conversion away, exact.
        try NPY.write(tensor.converted(to: Float.self), to: path)
        let widened = try NPY.read(contentsOf: path, as: Float.self).scalars
        #expect(zip(widened, bits).allSatisfy { value, bits in
            let exact = Float(bitPattern: UInt32(bits) << 16)
            return exact.isNaN ? value.isNaN : value.bitPattern == exact.bitPattern
        })
    }

    /// `x.view(np.uint16)` and `x.view(torch.int16).numpy()`: integers to
    /// NumPy, read as bfloat16 only when the call asks for it.
    @Test(arguments: ["<u2", "<i2"])
    func integerBitsOnlyWhenAsked(descriptor: String) throws {
        let bits: [UInt16] = [0x3FC0, 0xC000, 0x4049, 0xFF80]
        let data = Self.numpyFile(descriptor: descriptor, shape: [2, 2], payload: Self.payload(bits))
        #expect(throws: NPYError(path: "<memory>", problem: .unsupportedDType(descriptor))) { try NPY.decode(data) }
        let error = NPYError(path: "q.npy", problem: .unsupportedDType(descriptor))
        #expect(error.description.contains("bfloat16Bits: true"), "\(error)")
        let array = try NPY.decode(data, bfloat16Bits: true)
        #expect(array.dtypeName == "bfloat16" && array.shape == [2, 2])
        #expect(array.tensor(as: BFloat16.self).scalars.map(\.bitPattern) == bits)
        #expect(array.tensor(as: Float.self).scalars == [1.5, -2, 3.140625, -.infinity])
        // Other integer dtypes stay refused.
        let wide = Self.numpyFile(descriptor: "<u4", shape: [2], payload: [UInt8](repeating: 0, count: 8))
        #expect(throws: NPYError(path: "<memory>", problem: .unsupportedDType("<u4"))) { try NPY.decode(wide, bfloat16Bits: true) }
    }

    /// Header-only sizing knows the 2-byte element: a file one byte short
    /// or long is refused from its header as a full read refuses it.
    @Test func headerSizesTwoByteElements() throws {
        let directory = NSTemporaryDirectory() + "tfla-npy-bf16-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/x.npy"
        let body = Self.payload([UInt16](repeating: 0x3F80, count: 6))
        try Self.numpyFile(descriptor: "<V2", shape: [2, 3], payload: body).write(to: URL(fileURLWithPath: path))
        #expect(try NPY.header(contentsOf: path) == NPYArrayHeader(shape: [2, 3], elementSize: 2, dtypeName: "bfloat16"))
        for (bytes, problem) in [(body.dropLast(), NPYError.Problem.truncated(expectedBytes: 12, actualBytes: 11)),
                                 (body[...] + [0], .trailingBytes(expectedBytes: 12, actualBytes: 13))] {
            try Self.numpyFile(descriptor: "<V2", shape: [2, 3], payload: Array(bytes)).write(to: URL(fileURLWithPath: path))
            #expect(throws: NPYError(path: path, problem: problem)) { try NPY.header(contentsOf: path) }
            #expect(throws: NPYError(path: path, problem: problem)) { try NPY.read(contentsOf: path) }
        }
        try Self.numpyFile(descriptor: "<u2", shape: [2, 3], payload: body).write(to: URL(fileURLWithPath: path))
        #expect(throws: NPYError(path: path, problem: .unsupportedDType("<u2"))) { try NPY.header(contentsOf: path) }
        #expect(try NPY.header(contentsOf: path, bfloat16Bits: true) == NPYArrayHeader(shape: [2, 3], elementSize: 2, dtypeName: "bfloat16"))
    }
}
