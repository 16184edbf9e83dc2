import Foundation
import TFLA

/// The `.npy` files of one directory (--in): headers first, data on demand.
struct ArrayDirectory {
    let path: String

    /// Checks that --in is a directory, naming what it is otherwise.
    init(path: String) throws {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = errno == ENOENT ? "no such directory" : NPYFile.reason(errno)
            throw CommandFailure("--in \(path): \(reason)")
        }
        if let kind = NPYFile.irregularKind(info.st_mode), (info.st_mode & S_IFMT) != S_IFDIR {
            throw CommandFailure("--in \(path): \(kind.replacingOccurrences(of: "is ", with: "")), not a directory")
        } else if (info.st_mode & S_IFMT) != S_IFDIR {
            throw CommandFailure("--in \(path): a regular file, not a directory")
        }
    }

    func file(_ name: String) -> String {
        (path as NSString).appendingPathComponent(name + ".npy")
    }

    /// Whether an entry `name`.npy exists (a broken link or a loop counts:
    /// reading it then names the problem).
    func exists(_ name: String) -> Bool {
        var info = stat()
        return lstat(file(name), &info) == 0
    }

    func header(_ name: String) throws -> NPYArrayHeader {
        guard exists(name) else { throw CommandFailure("\(file(name)): missing input file") }
        return try NPY.header(contentsOf: file(name))
    }

    func headerIfPresent(_ name: String) throws -> NPYArrayHeader? {
        exists(name) ? try NPY.header(contentsOf: file(name)) : nil
    }

    func read(_ name: String) throws -> NPYArray {
        guard exists(name) else { throw CommandFailure("\(file(name)): missing input file") }
        return try NPY.read(contentsOf: file(name))
    }
}

/// The inputs of a command as their headers announce them, checked (dtype,
/// memory) before any data is read.
struct InputHeaders {
    let directory: ArrayDirectory
    let required: [(String, NPYArrayHeader)]
    let optional: [(String, NPYArrayHeader)]

    init(_ directory: ArrayDirectory, required: [String], optional: [String]) throws {
        self.directory = directory
        self.required = try required.map { ($0, try directory.header($0)) }
        self.optional = try optional.compactMap { name in try directory.headerIfPresent(name).map { (name, $0) } }
    }

    var all: [(String, NPYArrayHeader)] { required + optional }

    func shape(of name: String) -> [Int]? { all.first(where: { $0.0 == name })?.1.shape }

    /// The problem's shape from the headers of q (B,NH,S,DQK) and v
    /// (B,NH,S,DHV), or q (B,NH,DQK) and v (B,NH,DHV) for one token; nil
    /// when they do not have that form (the kernels name the problem).
    func problemShape() -> ProblemShape? {
        guard let q = shape(of: "q"), let v = shape(of: "v"), q.count == v.count else { return nil }
        switch q.count {
        case 4: return ProblemShape(batch: q[0], heads: q[1], sequence: q[2], keyDim: q[3], valueDim: v[3])
        case 3: return ProblemShape(batch: q[0], heads: q[1], sequence: 1, keyDim: q[2], valueDim: v[2])
        default: return nil
        }
    }

    /// The dtype to compute in: `requested`, or the one all inputs share.
    func computeDType(requested: DTypeChoice?) throws -> DTypeChoice {
        if let requested { return requested }
        let arrays = all
        let first = arrays[0].1.dtypeName
        if let other = arrays.first(where: { $0.1.dtypeName != first }) {
            throw CommandFailure("\(directory.file(other.0)): dtype \(other.1.dtypeName) differs from \(directory.file(arrays[0].0)) (\(first)); pass --dtype to convert")
        }
        return first == "float64" ? .float64 : .float32
    }

    /// Refuses the run, before any data is read, when what it allocates
    /// cannot fit in memory: the inputs as read (and the bytes of the
    /// largest file while it is decoded), their conversion to `dtype`, and
    /// `work` (the kernel's outputs and working memory).
    func requireMemory(dtype: DTypeChoice, work: (ProblemShape, Int) -> [[Int]], command: String) throws {
        let size = dtype == .float64 ? 8 : 4
        var parts: [[Int]] = []
        var largest = 0
        var converted = false
        for (_, header) in all {
            parts.append(header.shape + [header.elementSize])
            largest = max(largest, header.count * header.elementSize)
            if header.elementSize != size {
                parts.append(header.shape + [size])
                converted = true
            }
        }
        parts.append([largest])
        if let shape = problemShape() { parts += work(shape, size) }
        let what = "tfla \(command) (the inputs\(converted ? ", converted to \(dtype.rawValue)" : ""), the outputs and the kernel's working memory)"
        try MemoryBudget.require(parts, for: what)
    }

    /// Reads the data: the required arrays and the optional ones present.
    func read() throws -> (required: [(String, NPYArray)], optional: [(String, NPYArray)]) {
        (try required.map { ($0.0, try directory.read($0.0)) }, try optional.map { ($0.0, try directory.read($0.0)) })
    }
}
