/// How the package's command-line programs print an error: one line, with
/// control characters escaped, so that a message carrying a file name or a
/// value cannot break a log or a terminal. Package access: `tfla` and
/// `tfla-bench` share it.
package enum ErrorLine {
    /// The first line of an argument parser's message, without its
    /// "Error: " prefix, escaped.
    package static func firstLine(of message: String) -> String {
        let first = message.split(separator: "\n").first.map(String.init) ?? message
        return escaped(first.hasPrefix("Error: ") ? String(first.dropFirst("Error: ".count)) : first)
    }

    /// `text` on one line: control characters as `\n`, `\t`, `\r` or `\xHH`.
    package static func escaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value):
                let hex = String(scalar.value, radix: 16)
                result += "\\x" + (hex.count < 2 ? "0" + hex : hex)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
