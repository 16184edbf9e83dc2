import ArgumentParser
import TFLA

@main
struct TFLACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tfla",
        abstract: "mLSTM kernels (Tiled Flash Linear Attention) on the CPU.",
        version: BuildInfo.version,
        subcommands: [InfoCommand.self, DemoCommand.self]
    )
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
