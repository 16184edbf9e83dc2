import Foundation

/// Standard streams for the command-line tool.
enum FileHandleShim {
    static func writeToStandardError(_ string: String) {
        FileHandle.standardError.write(Data(string.utf8))
    }

    /// Shows a partial line (a progress message) before a long step.
    static func flushStandardOutput() {
        fflush(nil)
    }
}
