/// The header of a `.npy` file: dtype, memory order and shape.
///
/// Format: magic `\x93NUMPY`, version bytes, a little-endian header length
/// (2 bytes in version 1, 4 in versions 2 and 3), then a Python dict literal
/// such as `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
/// padded so that the data starts at a multiple of 64 bytes.
struct NPYHeader: Equatable {
    var descriptor: String
    var fortranOrder: Bool
    var shape: [Int]

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

    /// Parses the preamble of `bytes`; returns the header and the data offset.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(NPYError.Problem) -> (NPYHeader, dataOffset: Int) {
        guard bytes.count >= 10, bytes.prefix(6).elementsEqual(magic) else {
            if bytes.count < 10 && magic.starts(with: bytes) { throw .truncated(expectedBytes: 10, actualBytes: bytes.count) }
            throw .notNPY
        }
        let (major, minor) = (bytes[6], bytes[7])
        let lengthStart = 8
        let headerLength: Int
        let lengthSize: Int
        switch major {
        case 1:
            lengthSize = 2
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        case 2, 3:
            lengthSize = 4
            guard bytes.count >= 12 else { throw .truncated(expectedBytes: 12, actualBytes: bytes.count) }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[lengthStart + $1]) << (8 * $1) }
        default:
            throw .unsupportedVersion(major: major, minor: minor)
        }
        guard minor == 0 else { throw .unsupportedVersion(major: major, minor: minor) }
        let headerStart = lengthStart + lengthSize
        let dataOffset = headerStart + headerLength
        guard bytes.count >= dataOffset else { throw .truncated(expectedBytes: dataOffset, actualBytes: bytes.count) }
        // Version 3 allows UTF-8; the keys and values we accept are ASCII.
        guard let text = String(validating: bytes[headerStart..<dataOffset], as: UTF8.self) else {
            throw .malformedHeader("header is not valid text")
        }
        return (try parseDictionary(text), dataOffset)
    }

    /// Parses the dict literal with a small scanner; accepts any key order
    /// and whitespace, as numpy's own reader does.
    static func parseDictionary(_ text: String) throws(NPYError.Problem) -> NPYHeader {
        var scanner = Scanner(Array(text.utf8))
        var descriptor: String?
        var fortranOrder: Bool?
        var shape: [Int]?
        try scanner.expect(UInt8(ascii: "{"))
        while true {
            scanner.skipSpaces()
            if scanner.consume(UInt8(ascii: "}")) { break }
            let key = try scanner.string()
            try scanner.expect(UInt8(ascii: ":"))
            switch key {
            case "descr": descriptor = try scanner.string()
            case "fortran_order": fortranOrder = try scanner.boolean()
            case "shape": shape = try scanner.integerTuple()
            default: throw .malformedHeader("unexpected key '\(key)'")
            }
            scanner.skipSpaces()
            if scanner.consume(UInt8(ascii: ",")) { continue }
            try scanner.expect(UInt8(ascii: "}"))
            break
        }
        guard let descriptor else { throw .malformedHeader("missing 'descr'") }
        guard let fortranOrder else { throw .malformedHeader("missing 'fortran_order'") }
        guard let shape else { throw .malformedHeader("missing 'shape'") }
        return NPYHeader(descriptor: descriptor, fortranOrder: fortranOrder, shape: shape)
    }

    /// The complete preamble (magic, version, length, padded dict).
    func encoded() -> [UInt8] {
        let dims = shape.map(String.init)
        let tuple = shape.count == 1 ? "(\(dims[0]),)" : "(\(dims.joined(separator: ", ")))"
        var dict = Array("{'descr': '\(descriptor)', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': \(tuple), }".utf8)
        let useVersion2 = dict.count + 1 + 10 > 65_535
        let fixed = useVersion2 ? 12 : 10
        let padding = (64 - (fixed + dict.count + 1) % 64) % 64
        dict += [UInt8](repeating: UInt8(ascii: " "), count: padding) + [UInt8(ascii: "\n")]
        var out = Self.magic + [useVersion2 ? 2 : 1, 0]
        let length = dict.count
        out += useVersion2 ? (0..<4).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) }
                           : [UInt8(truncatingIfNeeded: length), UInt8(truncatingIfNeeded: length >> 8)]
        return out + dict
    }
}

/// A cursor over the header dict's bytes.
private struct Scanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpaces() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        skipSpaces()
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    mutating func expect(_ byte: UInt8) throws(NPYError.Problem) {
        guard consume(byte) else {
            throw .malformedHeader("expected '\(Character(UnicodeScalar(byte)))' at offset \(position)")
        }
    }

    mutating func string() throws(NPYError.Problem) -> String {
        skipSpaces()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "'") || bytes[position] == UInt8(ascii: "\"") else {
            throw .malformedHeader("expected a quoted string at offset \(position)")
        }
        let quote = bytes[position]
        position += 1
        let start = position
        while position < bytes.count, bytes[position] != quote { position += 1 }
        guard position < bytes.count else { throw .malformedHeader("unterminated string") }
        defer { position += 1 }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func boolean() throws(NPYError.Problem) -> Bool {
        skipSpaces()
        for (word, value) in [("True", true), ("False", false)] where bytes[position...].starts(with: word.utf8) {
            position += word.utf8.count
            return value
        }
        throw .malformedHeader("expected True or False at offset \(position)")
    }

    mutating func integerTuple() throws(NPYError.Problem) -> [Int] {
        try expect(UInt8(ascii: "("))
        var values: [Int] = []
        while true {
            if consume(UInt8(ascii: ")")) { return values }
            skipSpaces()
            let start = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) { position += 1 }
            guard position > start, let value = Int(String(decoding: bytes[start..<position], as: UTF8.self)) else {
                throw .malformedHeader("expected a non-negative integer in shape at offset \(start)")
            }
            values.append(value)
            if consume(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: ")"))
            return values
        }
    }
}
