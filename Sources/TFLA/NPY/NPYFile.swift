import Foundation

/// The file side of ``NPY``: whole-file reads and atomic writes through
/// POSIX calls, with plain reasons for failures ("is a directory", "no space
/// left on device") rather than Foundation's error domains.
package enum NPYFile {
    /// The marker in the names of temporary files: `.<name>.tfla-partial-<pid>-<hex>`.
    package static let partialMarker = ".tfla-partial-"

    /// The whole content of a regular file.
    static func read(_ path: String) throws(NPYError.Problem) -> Data {
        let (fd, info) = try openRegularFile(path)
        defer { close(fd) }
        let available = MemoryBudget.availableBytes()
        guard Int(info.st_size) <= available else {
            throw .unreadable("\(info.st_size) bytes, more than the \(available) bytes of memory available")
        }
        var data = Data(count: Int(info.st_size))
        let count = data.count
        let failure: Int32? = data.withUnsafeMutableBytes { buffer -> Int32? in
            var done = 0
            while done < count {
                let n = Foundation.read(fd, buffer.baseAddress! + done, count - done)
                if n < 0 { if errno == EINTR { continue }; return errno }
                if n == 0 { break }
                done += n
            }
            return done == count ? nil : -1
        }
        if let failure { throw .unreadable(failure < 0 ? "the file changed size while being read" : reason(failure)) }
        return data
    }

    /// Writes `parts` one after the other to a temporary file next to `path`,
    /// then renames it over `path`; on failure the temporary file is removed.
    package static func writeAtomically(_ parts: [UnsafeRawBufferPointer], to path: String) throws(NPYError.Problem) {
        var info = stat()
        if stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { throw .unwritable("is a directory") }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent)\(partialMarker)\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .unwritable(reason(errno, directoryOf: path)) }
        var failure: Int32?
        write: for part in parts {
            var done = 0
            while done < part.count {
                let n = Foundation.write(fd, part.baseAddress! + done, part.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    break write
                }
                done += n
            }
        }
        if close(fd) != 0, failure == nil { failure = errno }
        if failure == nil, rename(temporary, path) != 0 { failure = errno }
        if let failure {
            unlink(temporary)
            throw .unwritable(reason(failure))
        }
    }

    /// "a directory", "a FIFO (named pipe)", … for what is not a regular file.
    package static func irregularKind(_ mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: return nil
        case S_IFDIR: return "is a directory"
        case S_IFIFO: return "is a FIFO (named pipe)"
        case S_IFCHR, S_IFBLK: return "is a device"
        case S_IFSOCK: return "is a socket"
        default: return "is a special file"
        }
    }

    /// A plain reason for an errno value ("no space left on device").
    package static func reason(_ code: Int32, directoryOf path: String? = nil) -> String {
        switch code {
        case ENOENT: return path == nil ? "no such file or directory" : "the directory does not exist"
        case EACCES, EPERM: return "permission denied"
        case ENOSPC: return "no space left on device"
        case EDQUOT: return "disk quota exceeded"
        case EFBIG: return "file too large (over the file size limit)"
        case EROFS: return "read-only file system"
        case EISDIR: return "is a directory"
        case ENOTDIR: return "a component of the path is not a directory"
        case ELOOP: return "a symbolic link loop (too many levels of symbolic links)"
        case ENOTEMPTY, EEXIST: return "a non-empty directory is in the way"
        default:
            let text = String(cString: strerror(code))
            return text.prefix(1).lowercased() + text.dropFirst()
        }
    }
}

extension NPYFile {
    /// The first bytes of a regular file, at most `limit`, and the file's size.
    static func readPrefix(_ path: String, limit: Int) throws(NPYError.Problem) -> (bytes: [UInt8], fileSize: Int) {
        let (fd, info) = try openRegularFile(path)
        defer { close(fd) }
        let count = min(limit, Int(info.st_size))
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + done, count - done) }
            if n < 0 { if errno == EINTR { continue }; throw .unreadable(reason(errno)) }
            if n == 0 { break }
            done += n
        }
        return (Array(bytes[..<done]), Int(info.st_size))
    }

    /// An open descriptor of a regular file and its status, checked before
    /// and after opening (a path swapped in between is refused too). The
    /// caller closes it.
    private static func openRegularFile(_ path: String) throws(NPYError.Problem) -> (fd: Int32, info: stat) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw .unreadable(reason(errno)) }
        if let kind = irregularKind(info.st_mode) { throw .unreadable("\(kind), not a regular file") }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(reason(errno)) }
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw .unreadable(reason(code))
        }
        if let kind = irregularKind(info.st_mode) {
            close(fd)
            throw .unreadable("\(kind), not a regular file")
        }
        return (fd, info)
    }
}
