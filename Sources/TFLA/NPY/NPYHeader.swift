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
        return (try parseDictionary(text, pythonTwoIntegers: major < 3), dataOffset)
    }

    /// Parses the dict literal with a small scanner, as strictly as numpy's
    /// reader (`ast.literal_eval`, then checks of the keys and values): any
    /// key order and whitespace, a trailing comma; nothing after the dict
    /// but whitespace; shapes a tuple (`(3,)`, not `(3)`) of Python integer
    /// literals (`0`, `12`, `1_000`; not `012`), with Python 2's `L` suffix
    /// in format versions 1 and 2 (numpy filters it there).
    static func parseDictionary(_ text: String, pythonTwoIntegers: Bool = false) throws(NPYError.Problem) -> NPYHeader {
        var scanner = Scanner(Array(text.utf8))
        scanner.pythonTwoIntegers = pythonTwoIntegers
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
        scanner.skipSpaces()
        guard scanner.atEnd else {
            throw .malformedHeader("unexpected characters after the header dict at offset \(scanner.position)")
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
    /// Accept a trailing `L` on integers (Python 2 longs).
    var pythonTwoIntegers = false

    var atEnd: Bool { position == bytes.count }

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipSpaces() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0C, 0x0D].contains(bytes[position]) { position += 1 }
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
        // Python 3's u'' prefix is an ordinary str.
        if position + 1 < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "u"),
           bytes[position + 1] == UInt8(ascii: "'") || bytes[position + 1] == UInt8(ascii: "\"") {
            position += 1
        }
        guard position < bytes.count, bytes[position] == UInt8(ascii: "'") || bytes[position] == UInt8(ascii: "\"") else {
            throw .malformedHeader("expected a quoted string at offset \(position)")
        }
        let quote = bytes[position]
        position += 1
        let start = position
        while position < bytes.count, bytes[position] != quote {
            // Escapes and line breaks would change the text; no valid key or
            // supported dtype contains them.
            guard bytes[position] != UInt8(ascii: "\\"), bytes[position] != 0x0A, bytes[position] != 0x0D else {
                throw .malformedHeader("unsupported character in a string at offset \(position)")
            }
            position += 1
        }
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
        let open = position
        try expect(UInt8(ascii: "("))
        var values: [Int] = []
        while true {
            if consume(UInt8(ascii: ")")) { return values }
            values.append(try integer())
            if consume(UInt8(ascii: ",")) { continue }
            try expect(UInt8(ascii: ")"))
            // `(3)` is the integer 3 in Python, not a tuple.
            guard values.count != 1 else { throw .malformedHeader("shape at offset \(open) is not a tuple; a single dimension is written (n,)") }
            return values
        }
    }

    /// A non-negative Python integer literal: unary signs, then decimal
    /// digits with single `_` between them and no leading zero unless all
    /// are zeros, or `0x`/`0o`/`0b` and digits of that base.
    mutating func integer() throws(NPYError.Problem) -> Int {
        var negative = false
        while consume(UInt8(ascii: "+")) || (consume(UInt8(ascii: "-")) && { negative.toggle(); return true }()) {}
        skipSpaces()
        let start = position
        var radix = 10
        if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "0"),
           let base = [UInt8(ascii: "x"): 16, UInt8(ascii: "o"): 8, UInt8(ascii: "b"): 2][bytes[position + 1] | 0x20] {
            radix = base
            position += 2
            if position < bytes.count, bytes[position] == UInt8(ascii: "_") { position += 1 }
        }
        let isDigit = { (byte: UInt8) in
            radix == 16 ? UInt8(ascii: "0")...UInt8(ascii: "9") ~= byte || UInt8(ascii: "a")...UInt8(ascii: "f") ~= byte | 0x20
                        : UInt8(ascii: "0")..<UInt8(ascii: "0") + UInt8(radix) ~= byte
        }
        var digits: [UInt8] = []
        while position < bytes.count, isDigit(bytes[position]) {
            digits.append(bytes[position])
            position += 1
            if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "_"), isDigit(bytes[position + 1]) { position += 1 }
        }
        guard !digits.isEmpty else { throw .malformedHeader("expected a non-negative integer in shape at offset \(start)") }
        if radix == 10, digits[0] == UInt8(ascii: "0"), digits.contains(where: { $0 != UInt8(ascii: "0") }) {
            throw .malformedHeader("leading zero in shape entry at offset \(start) (not a Python integer)")
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "_") || (bytes[position] | 0x20 >= UInt8(ascii: "a") && bytes[position] | 0x20 <= UInt8(ascii: "z")) {
            guard pythonTwoIntegers, bytes[position] == UInt8(ascii: "L") else {
                throw .malformedHeader("expected a non-negative integer in shape at offset \(start)")
            }
            position += 1
        }
        guard let value = Int(String(decoding: digits, as: UTF8.self), radix: radix) else {
            throw .malformedHeader("shape entry at offset \(start) is too large")
        }
        guard !negative || value == 0 else { throw .malformedHeader("negative shape entry at offset \(start)") }
        return value
    }
}
