import Foundation
import TFLA

/// The output files of one command, moved into --out together.
///
/// Nothing touches --out until every output is computed. ``commit()`` then
/// creates --out (and missing parents), writes every file into a staging
/// directory inside it, `.tfla-staging-<pid>-<n>`, and renames the files
/// into place only when all are written, holding an exclusive lock (`flock`)
/// on --out for the renames: runs into the same --out publish their sets one
/// after the other, so the set there is always that of one run (the last to
/// publish), never a mix. On any error, or on SIGINT, SIGTERM
/// or SIGHUP, the staging directory and the directories it created are
/// removed. A SIGKILL cannot be caught: it may leave the staging directory
/// (the next run into the same --out removes it) and, during the final
/// renames, a set with some files new and some old.
struct OutputSet {
    static let stagingPrefix = ".tfla-staging-"

    let path: String
    /// Each entry writes its files (names with extension) into the directory
    /// it is given.
    private var files: [(names: [String], write: (String) throws(NPYError) -> Void)] = []

    /// Checks --out without creating it: it must be a directory or missing.
    init(_ path: String) throws {
        self.path = path
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR {
            throw CommandFailure("--out \(path): exists and is not a directory")
        }
    }

    mutating func add<S: TensorScalar>(_ tensor: Tensor<S>, as name: String) {
        files.append(([name + ".npy"], { directory throws(NPYError) in
            try NPY.write(tensor, to: (directory as NSString).appendingPathComponent(name + ".npy"))
        }))
    }

    /// Files that `write` puts into the directory it is given (a segment
    /// summary's ``SegmentSummary/save(to:)``), published with the rest.
    mutating func add(files names: [String], write: @escaping (String) throws(NPYError) -> Void) {
        files.append((names, write))
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name + ".npy") }

    private func target(_ fileName: String) -> String { (path as NSString).appendingPathComponent(fileName) }

    /// Writes the set; either every file is in place or none is new.
    func commit() throws {
        for name in files.flatMap(\.names) {
            var info = stat()
            if stat(target(name), &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
                throw CommandFailure("\(target(name)): is a directory; remove it or choose another --out")
            }
        }
        // The signals are caught before anything is created, and every path
        // is created under the handler's lock and recorded at once: a signal
        // either comes before it (nothing to remove) or finds it recorded.
        Interruption.shared.arm()
        let created: [String]
        do {
            created = try Interruption.shared.recordCreated { try Self.makeDirectories(path) }
        } catch {
            Interruption.shared.release()
            throw error
        }
        Self.removeStale(in: path)
        let staging = (path as NSString).appendingPathComponent("\(Self.stagingPrefix)\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        var reason = ""
        guard Interruption.shared.recordStaging(staging, {
            if mkdir(staging, 0o755) == 0 { return true }
            reason = NPYFile.reason(errno)
            return false
        }) else {
            Interruption.shared.release()
            Self.remove(created)
            throw CommandFailure("--out \(path): cannot create a staging directory: \(reason)")
        }
        do {
            for (names, write) in files {
                do {
                    // Under the handler's lock: a signal waits for the file
                    // in progress, then removes the staging directory whole.
                    try Interruption.shared.holding { () throws(NPYError) in try write(staging) }
                } catch {
                    let name = (error.path as NSString).lastPathComponent
                    throw CommandFailure("\(target(names.contains(name) ? name : names[0])): cannot write: \(Self.reason(of: error))")
                }
            }
            let lock = try Self.lock(path)
            defer { close(lock) }
            try Interruption.shared.finish {
                for name in files.flatMap(\.names) where rename((staging as NSString).appendingPathComponent(name), target(name)) != 0 {
                    throw CommandFailure("\(target(name)): cannot move into place: \(NPYFile.reason(errno))")
                }
                // Still under the handler's lock: a signal after the renames
                // finds nothing left to remove (removing the empty staging
                // directory after release left it behind on a SIGTERM there).
                rmdir(staging)
            }
        } catch {
            Interruption.shared.release()
            try? FileManager.default.removeItem(atPath: staging)
            Self.remove(created)
            throw error
        }
        Interruption.shared.release()
    }

    /// Waits for an exclusive `flock` on the directory `path`; returns the
    /// descriptor that holds it (closing it releases the lock).
    static func lock(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CommandFailure("--out \(path): cannot open to lock: \(NPYFile.reason(errno))") }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else {
                let reason = NPYFile.reason(errno)
                close(fd)
                throw CommandFailure("--out \(path): cannot lock: \(reason)")
            }
        }
        return fd
    }

    /// The reason part of an NPY write error (its path is the staging one).
    private static func reason(of error: NPYError) -> String {
        if case let .unwritable(reason) = error.problem { return reason }
        return error.description
    }

    /// Creates `path` and its missing parents; returns those it created,
    /// outermost first.
    static func makeDirectories(_ path: String) throws -> [String] {
        var missing: [String] = []
        var current = (path as NSString).standardizingPath
        var info = stat()
        while !current.isEmpty, current != "/", stat(current, &info) != 0 {
            missing.append(current)
            current = (current as NSString).deletingLastPathComponent
        }
        var created: [String] = []
        for directory in missing.reversed() {
            guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
                let reason = NPYFile.reason(errno)
                remove(created)
                throw CommandFailure("--out \(path): cannot create directory \(directory): \(reason)")
            }
            created.append(directory)
        }
        return created
    }

    /// Removes directories this run created (innermost first), if empty.
    static func remove(_ created: [String]) {
        for directory in created.reversed() { rmdir(directory) }
    }

    /// Removes staging directories and partial files that killed runs left
    /// in `directory` (their process id is no longer running).
    static func removeStale(in directory: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for entry in entries {
            let marker = entry.hasPrefix(stagingPrefix) ? stagingPrefix : entry.hasPrefix(".") && entry.contains(NPYFile.partialMarker) ? NPYFile.partialMarker : nil
            guard let marker, let range = entry.range(of: marker),
                  let pid = Int32(entry[range.upperBound...].prefix(while: \.isNumber)), pid > 0,
                  kill(pid, 0) != 0, errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(entry))
        }
    }
}

/// Removes the paths of an output set in progress when the process is
/// interrupted (SIGINT, SIGTERM, SIGHUP), then dies of the same signal.
final class Interruption: @unchecked Sendable {
    static let shared = Interruption()
    private let lock = NSLock()
    private var staging: String?
    private var created: [String] = []
    private var sources: [(signal: Int32, source: DispatchSourceSignal)] = []

    private init() {}

    /// Until ``finish(_:)`` or ``release()``, the signals remove the
    /// recorded staging directory and the (then empty) directories created.
    func arm() {
        lock.lock()
        defer { lock.unlock() }
        (staging, created) = (nil, [])
        guard sources.isEmpty else { return }
        for signalNumber in [SIGINT, SIGTERM, SIGHUP] {
            // A signal the process was started ignoring (nohup, a background
            // job's SIGINT) stays ignored.
            let previous = signal(signalNumber, SIG_IGN)
            guard unsafeBitCast(previous, to: Int.self) == unsafeBitCast(SIG_DFL, to: Int.self) else {
                signal(signalNumber, previous)
                continue
            }
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [unowned self] in self.interrupted(by: signalNumber) }
            source.resume()
            sources.append((signalNumber, source))
        }
    }

    /// Runs `body`, which creates directories and returns them, with the
    /// signals held off, and records what it created.
    func recordCreated(_ body: () throws -> [String]) rethrows -> [String] {
        lock.lock()
        defer { lock.unlock() }
        created = try body()
        return created
    }

    /// Runs `body` with the signals held off.
    func holding<E: Error>(_ body: () throws(E) -> Void) throws(E) {
        lock.lock()
        defer { lock.unlock() }
        try body()
    }

    /// Runs `body`, which creates the staging directory `path`, with the
    /// signals held off, and records the path when it succeeded.
    func recordStaging(_ path: String, _ body: () -> Bool) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        let made = body()
        if made { staging = path }
        return made
    }

    /// The paths are no longer at risk: the signals kill as usual again.
    func release() {
        lock.lock()
        defer { lock.unlock() }
        (staging, created) = (nil, [])
        for (signalNumber, source) in sources {
            source.cancel()
            signal(signalNumber, SIG_DFL)
        }
        sources = []
    }

    /// Runs `body` (the final renames) with the signals held off; once it
    /// succeeds the paths are no longer removed.
    func finish(_ body: () throws -> Void) throws {
        lock.lock()
        defer { lock.unlock() }
        try body()
        (staging, created) = (nil, [])
    }

    private func interrupted(by signalNumber: Int32) {
        lock.lock()
        if let staging { try? FileManager.default.removeItem(atPath: staging) }
        OutputSet.remove(created)
        // Dies of the signal: sent to the process (this dispatch thread
        // blocks signals), the lock kept so that no rename follows.
        signal(signalNumber, SIG_DFL)
        kill(getpid(), signalNumber)
        usleep(200_000)
        _exit(128 + signalNumber)
    }
}
