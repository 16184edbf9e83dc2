import Foundation
import Testing
import TFLA

/// The reader accepts exactly the headers numpy accepts: each case of
/// Fixtures/npy/header-cases.json carries numpy's own verdict (written by
/// Scripts/fixtures/npy-header-cases.py).
@Suite("NPY header strictness")
struct NPYStrictnessTests {
    struct Case: Decodable, CustomTestStringConvertible {
        var header: String
        var version: UInt8
        var count: Int
        var numpyShape: [Int]?

        enum CodingKeys: String, CodingKey {
            case header, version, count
            case numpyShape = "numpy_shape"
        }

        var testDescription: String { "v\(version) \(header.debugDescription)" }

        /// The file's bytes, built as the script builds them.
        var bytes: Data {
            let text = Array(header.utf8)
            let fixed = version == 1 ? 10 : 12
            let padding = (64 - (fixed + text.count + 1) % 64) % 64
            let body = text + [UInt8](repeating: 0x20, count: padding) + [0x0A]
            var data = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0])
            let length = version == 1 ? 2 : 4
            data.append(contentsOf: (0..<length).map { UInt8(truncatingIfNeeded: body.count >> (8 * $0)) })
            data.append(contentsOf: body)
            data.append(Data(count: 4 * count))
            return data
        }
    }

    // Computed, not a stored static: nothing outlives the tests (no leak report).
    static var cases: [Case] {
        let path = Fixtures.root + "/npy/header-cases.json"
        guard let data = FileManager.default.contents(atPath: path),
              let cases = try? JSONDecoder().decode([Case].self, from: data) else { return [] }
        return cases
    }

    @Test func theCasesAreThere() {
        #expect(Self.cases.count >= 50)
        #expect(Self.cases.contains { $0.numpyShape == nil } && Self.cases.contains { $0.numpyShape != nil })
    }

    @Test(arguments: cases)
    func agreesWithNumpy(_ sample: Case) throws {
        if let shape = sample.numpyShape {
            let array = try NPY.decode(sample.bytes)
            #expect(array.shape == shape)
        } else {
            // Every refusal here is of the header itself.
            #expect {
                try NPY.decode(sample.bytes)
            } throws: { error in
                guard let error = error as? NPYError, error.path == "<memory>", case .malformedHeader = error.problem else { return false }
                return true
            }
        }
    }

    /// The two forms the fuzzing found accepted, with the reason given.
    @Test func namesTheProblem() {
        let junk = Case(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), } junk", version: 1, count: 6)
        #expect(throws: NPYError(path: "<memory>", problem: .malformedHeader("unexpected characters after the header dict at offset 58"))) {
            try NPY.decode(junk.bytes)
        }
        let zero = Case(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (06,), }", version: 1, count: 6)
        #expect(throws: NPYError(path: "<memory>", problem: .malformedHeader("leading zero in shape entry at offset 51 (not a Python integer)"))) {
            try NPY.decode(zero.bytes)
        }
    }
}

extension NPYStrictnessTests.Case {
    init(header: String, version: UInt8, count: Int) {
        self.init(header: header, version: version, count: count, numpyShape: nil)
    }
}
