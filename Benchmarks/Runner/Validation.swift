import ArgumentParser
import Foundation
import TFLABenchmarkKit

extension BenchRunner {
    /// Refuses --shapes names that are not shapes of the chosen mode: the
    /// standard shapes, and the scaling shapes with --threads-sweep or
    /// --simulate only.
    func validateShapeNames() throws {
        guard shapes != "all" else { return }
        let standard = BenchmarkShape.standard.map(\.name), scaling = BenchmarkShape.scaling.map(\.name)
        let sweeping = threadsSweep != nil || simulate != nil
        let valid = sweeping ? standard + scaling.filter { !standard.contains($0) } : standard
        for name in shapes.split(separator: ",", omittingEmptySubsequences: false).map(String.init) where !valid.contains(name) {
            if !sweeping, scaling.contains(name) {
                throw ValidationError("--shapes: '\(name)' is a scaling shape, for --threads-sweep or --simulate only; "
                    + "the shapes here are \(standard.joined(separator: ", ")) or all")
            }
            throw ValidationError("--shapes: unknown shape '\(name)'; the shapes are \(valid.joined(separator: ", ")) or all")
        }
    }

    /// Errors as `tfla` prints them: one line on stderr, control characters
    /// escaped, `tfla-bench: error: …`; help and version on stdout.
    static func mainReportingErrors() {
        let status: Int32
        do {
            var command = try parseAsRoot()
            try command.run()
            status = 0
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
            } else if !message.isEmpty {
                let first = message.split(separator: "\n").first.map(String.init) ?? message
                let text = first.hasPrefix("Error: ") ? String(first.dropFirst("Error: ".count)) : first
                FileHandle.standardError.write(Data("tfla-bench: error: \(escaped(text)) (see 'tfla-bench --help')\n".utf8))
            }
            status = code.rawValue
        }
        if status != 0 { Foundation.exit(status) }
    }

    /// `text` on one line: control characters as `\n`, `\t`, `\r` or `\xHH`.
    static func escaped(_ text: String) -> String {
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
