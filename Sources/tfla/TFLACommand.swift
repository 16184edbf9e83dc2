import ArgumentParser
import TFLA

@main
struct TFLACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tfla",
        abstract: "mLSTM kernels (Tiled Flash Linear Attention) on the CPU.",
        version: BuildInfo.version,
        subcommands: [InfoCommand.self, DemoCommand.self, LayerDemoCommand.self, RunCommand.self, StepCommand.self, CompareCommand.self, GradCommand.self, BenchCommand.self]
    )

    /// Errors are one line on stderr (test suites parse it); help and
    /// version go to stdout in full.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
            } else if !message.isEmpty {
                let first = message.split(separator: "\n").first.map(String.init) ?? message
                let text = first.hasPrefix("Error: ") ? String(first.dropFirst("Error: ".count)) : first
                var stderr = StandardError()
                print("tfla: error: \(text) (see 'tfla help')", to: &stderr)
            }
            exit(withError: code == .success ? nil : ExitCode(code.rawValue))
        }
    }
}

/// Prints an error as one line on stderr and exits non-zero.
func fail(_ message: String) -> ExitCode {
    var stderr = StandardError()
    print("tfla: error: \(message)", to: &stderr)
    return ExitCode(2)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleShim.writeToStandardError(string)
    }
}
