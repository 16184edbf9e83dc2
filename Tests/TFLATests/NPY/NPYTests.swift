import Foundation
import Testing
import TFLA

@Suite("NPY")
struct NPYTests {
    static let samples = Fixtures.root + "/npy"

    @Test func readsFilesNumpyWrote() throws {
        let rank1 = try NPY.read(contentsOf: Self.samples + "/f32_rank1.npy", as: Float.self)
        #expect(rank1.shape == [5])
        #expect(rank1.scalars == [0, 0.5, 1, 1.5, 2])

        let rank3 = try NPY.read(contentsOf: Self.samples + "/f64_rank3.npy", as: Double.self)
        #expect(rank3.shape == [2, 3, 4])
        #expect(rank3.scalars == (0..<24).map { Double($0) / 8 })

        let rank0 = try NPY.read(contentsOf: Self.samples + "/f32_rank0.npy", as: Float.self)
        #expect(rank0.shape == [])
        #expect(rank0.scalars == [3.25])

        let empty = try NPY.read(contentsOf: Self.samples + "/f64_empty.npy", as: Double.self)
        #expect(empty.shape == [0, 3])
        #expect(empty.count == 0)

        let version2 = try NPY.read(contentsOf: Self.samples + "/f32_v2.npy", as: Float.self)
        #expect(version2.shape == [2, 3])
        #expect(version2.scalars == [0, 1, 2, 3, 4, 5])

        let half = try NPY.read(contentsOf: Self.samples + "/f16.npy", as: Float16.self)
        #expect(half.scalars == [0, 1, 2, 3])

        let ones = try NPY.read(contentsOf: Self.samples + "/f64_large_shape.npy", as: Double.self)
        #expect(ones.shape == [1, 2, 1, 3, 1])
        #expect(ones.scalars == [Double](repeating: 1.5, count: 6))
    }

    @Test(arguments: [
        ("f64_fortran.npy", NPYError.Problem.fortranOrder),
        ("f32_bigendian.npy", .unsupportedDType(">f4")),
        ("i32.npy", .unsupportedDType("<i4")),
    ])
    func refusesUnsupportedFiles(name: String, problem: NPYError.Problem) {
        let path = Self.samples + "/" + name
        #expect(throws: NPYError(path: path, problem: problem)) { try NPY.read(contentsOf: path) }
    }

    @Test func dtypeMismatchIsReportedNotConverted() {
        let path = Self.samples + "/f32_rank1.npy"
        #expect(throws: NPYError(path: path, problem: .dtypeMismatch(expected: "float64", found: "float32"))) {
            try NPY.read(contentsOf: path, as: Double.self)
        }
    }

    @Test func roundTripsThroughFilesNumpyCanRead() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for shape in [[], [1], [3, 1, 2], [2, 0], [1, 2, 3, 4, 5]] {
            let count = shape.reduce(1, *)
            let t = try Tensor<Double>(shape: shape, scalars: (0..<count).map { Double($0) * 0.75 - 1 })
            let path = directory + "/t.npy"
            try NPY.write(t, to: path)
            #expect(try NPY.read(contentsOf: path, as: Double.self) == t)
            let f = t.converted(to: Float.self)
            try NPY.write(f, to: path)
            #expect(try NPY.read(contentsOf: path, as: Float.self) == f)
            // numpy requires the data to start at a multiple of 64 bytes.
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let headerLength = Int(data[8]) | Int(data[9]) << 8
            #expect((10 + headerLength) % 64 == 0)
            #expect(data.count == 10 + headerLength + count * 4)
        }
    }

    @Test func writeToMissingDirectoryFailsCleanly() throws {
        let t = Tensor<Float>(shape: [2])
        let path = "/nonexistent-directory-for-tfla-tests/x.npy"
        #expect(throws: NPYError(path: path, problem: .unwritable("the directory does not exist"))) { try NPY.write(t, to: path) }
    }

    @Test func failedWriteLeavesNoPartialFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A directory where the file should be: the rename fails, and
        // neither the target nor a temporary file may remain as a file.
        let path = directory + "/blocked.npy"
        try FileManager.default.createDirectory(atPath: path + "/inner", withIntermediateDirectories: true)
        #expect(throws: NPYError(path: path, problem: .unwritable("is a directory"))) { try NPY.write(Tensor<Float>(shape: [4]), to: path) }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(leftovers == ["blocked.npy"])
    }

    @Test func missingFileIsUnreadable() {
        let path = Self.samples + "/does-not-exist.npy"
        #expect(throws: NPYError(path: path, problem: .unreadable("no such file or directory"))) { try NPY.read(contentsOf: path) }
    }

    // Malformed bytes, built from a valid file.
    // Computed, not a stored static: nothing outlives the tests (no leak report).
    static var valid: Data { NPY.encode(try! Tensor<Float>(shape: [2, 2], scalars: [1, 2, 3, 4])) }

    static func replacingHeader(_ dict: String) -> Data {
        var header = Array(dict.utf8)
        header += [UInt8](repeating: 0x20, count: (64 - (10 + header.count + 1) % 64) % 64) + [0x0A]
        return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)] + header)
    }

    @Test func truncatedDataIsReported() {
        let bytes = Self.valid.prefix(Self.valid.count - 3)
        #expect(throws: NPYError(path: "<memory>", problem: .truncated(expectedBytes: 16, actualBytes: 13))) {
            try NPY.decode(Data(bytes))
        }
    }

    @Test func truncatedHeaderIsReported() {
        #expect(throws: NPYError(path: "<memory>", problem: .truncated(expectedBytes: 128, actualBytes: 40))) { try NPY.decode(Data(Self.valid.prefix(40))) }
        #expect(throws: NPYError(path: "<memory>", problem: .notNPY)) { try NPY.decode(Data(Self.valid.prefix(7))) }
    }

    @Test func trailingBytesAreReported() {
        #expect(throws: NPYError(path: "<memory>", problem: .trailingBytes(expectedBytes: 16, actualBytes: 20))) {
            try NPY.decode(Self.valid + Data([0, 0, 0, 0]))
        }
    }

    @Test func badMagicIsReported() {
        var bytes = Self.valid
        bytes[1] = UInt8(ascii: "X")
        #expect(throws: NPYError(path: "<memory>", problem: .notNPY)) { try NPY.decode(bytes) }
        #expect(throws: NPYError(path: "<memory>", problem: .notNPY)) { try NPY.decode(Data("hello world, not npy".utf8)) }
    }

    @Test func unsupportedVersionIsReported() {
        var bytes = Self.valid
        bytes[6] = 4
        #expect(throws: NPYError(path: "<memory>", problem: .unsupportedVersion(major: 4, minor: 0))) { try NPY.decode(bytes) }
    }

    @Test(arguments: [
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'shape': (2,), }",
        "{'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }",
        "{'descr': <f4, 'fortran_order': False, 'shape': (2,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "['descr', '<f4']",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
    ])
    func malformedHeadersAreReported(dict: String) {
        #expect {
            try NPY.decode(Self.replacingHeader(dict))
        } throws: { error in
            guard let error = error as? NPYError, case .malformedHeader = error.problem else { return false }
            return true
        }
    }

    @Test func headerKeysInAnyOrderAreAccepted() throws {
        let data = Self.replacingHeader("{'shape': (1,), 'fortran_order': False, 'descr': '<f8'}") + Data(count: 8)
        let array = try NPY.decode(data)
        #expect(array.shape == [1])
        #expect(array.dtypeName == "float64")
    }

    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "tfla-npy-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}
