import Foundation

/// The process's peak resident memory (Linux `VmHWM`), resettable so that
/// each benchmark configuration reports its own peak.
public enum PeakMemory {
    /// Resets the peak to the current resident size (writes 5 to
    /// `/proc/self/clear_refs`); false where that is not supported.
    @discardableResult
    public static func reset() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    /// The peak resident size in bytes since the last reset, or nil when
    /// `/proc/self/status` is unavailable.
    public static func peakBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kilobytes = Int(fields[1]) { return kilobytes * 1024 }
        }
        return nil
    }
}
