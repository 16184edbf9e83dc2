import ArgumentParser
import Foundation
import TFLA

@main
struct TFLACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tfla",
        abstract: "mLSTM kernels (Tiled Flash Linear Attention) on the CPU.",
        discussion: """
        Exit status: 0 success; 1 'tfla compare' found elements outside the tolerance; \
        2 the data cannot be used (an unreadable, malformed or inconsistent file, an \
        impossible size, an option value the data cannot take, a failed write); \
        64 usage (an unknown option or command, a malformed option value). Every error \
        is one line on stderr, control characters escaped; a failed command leaves \
        no new file in --out.
        """,
        version: BuildInfo.version,
        subcommands: [
            InfoCommand.self, DemoCommand.self, LayerDemoCommand.self, RunCommand.self, StepCommand.self,
            CompareCommand.self, GradCommand.self, PlanCommand.self, SummaryCommand.self, ComposeCommand.self,
        ]
    )

    /// Errors are one line on stderr (test suites parse it); help and
    /// version go to stdout in full.
    static func main() {
        // The status is computed in a function of its own so that the
        // command, the error and its message are all released before the
        // process exits (LeakSanitizer would report what is still
        // referenced only from a frame that `exit` never returns to).
        let status = runReportingErrors()
        if status != 0 { Foundation.exit(status) }
    }

    /// Parses and runs the command; prints an error or help; returns the
    /// exit status.
    private static func runReportingErrors() -> Int32 {
        do {
            try requireKnownCommand(Array(CommandLine.arguments.dropFirst()))
            var command = try parseAsRoot()
            try command.run()
            return 0
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
            } else if !message.isEmpty {
                var stderr = StandardError()
                print("tfla: error: \(ErrorLine.firstLine(of: message)) (see 'tfla help')", to: &stderr)
            }
            return code.rawValue
        }
    }
}

/// Refuses a first argument that names no command (`tfla runn --in x`
/// would otherwise be reported as an unknown option '--in').
private func requireKnownCommand(_ arguments: [String]) throws {
    guard let first = arguments.first, !first.hasPrefix("-") else { return }
    let names = TFLACommand.configuration.subcommands.compactMap { $0.configuration.commandName }
    guard !names.contains(first), first != "help" else { return }
    throw ValidationError("unknown command '\(first)'; the commands are \(names.joined(separator: ", ")) and help")
}

/// Prints an error as one line on stderr and exits non-zero.
func fail(_ message: String) -> ExitCode {
    var stderr = StandardError()
    print("tfla: error: \(ErrorLine.escaped(message))", to: &stderr)
    return ExitCode(2)
}


struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleShim.writeToStandardError(string)
    }
}
