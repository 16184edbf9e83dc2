import ArgumentParser
import Foundation
import TFLA
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
                let line = ErrorLine.firstLine(of: message)
                FileHandle.standardError.write(Data("tfla-bench: error: \(line) (see 'tfla-bench --help')\n".utf8))
            }
            status = code.rawValue
        }
        if status != 0 { Foundation.exit(status) }
    }
}
