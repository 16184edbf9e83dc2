import Foundation
import TFLA

/// The `.npy` files of one directory (--in): headers first, data on demand.
struct ArrayDirectory {
    let path: String
    /// Read uint16 and int16 files as bfloat16 bits (`--bf16-bits`); nil
    /// for a command without that flag.
    let bfloat16Bits: Bool?

    /// Checks that --in is a directory, naming what it is otherwise.
    init(path: String, bfloat16Bits: Bool? = nil) throws {
        self.path = path
        self.bfloat16Bits = bfloat16Bits
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
        return try Self.namingFlag(bfloat16Bits) { try NPY.header(contentsOf: file(name), bfloat16Bits: bfloat16Bits ?? false) }
    }

    func headerIfPresent(_ name: String) throws -> NPYArrayHeader? {
        exists(name) ? try header(name) : nil
    }

    func read(_ name: String) throws -> NPYArray {
        guard exists(name) else { throw CommandFailure("\(file(name)): missing input file") }
        return try Self.namingFlag(bfloat16Bits) { try NPY.read(contentsOf: file(name), bfloat16Bits: bfloat16Bits ?? false) }
    }

    /// Runs a read; a uint16 or int16 file it refuses is reported with the
    /// flag that reads it as bfloat16 bits, when the command has one
    /// (`flag` not nil).
    static func namingFlag<R>(_ flag: Bool?, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as NPYError {
            guard flag != nil, case let .unsupportedDType(descr) = error.problem,
                  NPY.bfloat16BitsDescriptors.contains(descr) else { throw error }
            let kind = descr == "<u2" ? "uint16" : "int16"
            throw CommandFailure("\(error.path): dtype '\(descr)' (\(kind)): if it holds bfloat16 bit patterns (x.view(np.\(kind)), x.view(torch.\(kind))), pass --bf16-bits; otherwise save it as float32")
        }
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

    /// The dtype to compute in: `requested`, or the one all inputs share
    /// (float32 for float16 and bfloat16). bfloat16 mixes with float32 (q,
    /// k, v in bfloat16 with the gates or the state in float32, as models
    /// give them): both widen to float32 exactly, so the computation is
    /// float32 on the arrays as given. Any other mix needs `--dtype`.
    func computeDType(requested: DTypeChoice?) throws -> DTypeChoice {
        if let requested { return requested }
        let arrays = all
        let first = arrays[0].1.dtypeName
        let family = { (name: String) in name == "bfloat16" ? "float32" : name }
        if let other = arrays.first(where: { family($0.1.dtypeName) != family(first) }) {
            throw CommandFailure("\(directory.file(other.0)): dtype \(other.1.dtypeName) differs from \(directory.file(arrays[0].0)) (\(first)); pass --dtype to convert (only bfloat16 and float32 mix without it)")
        }
        return first == "float64" ? .float64 : .float32
    }

    /// Whether every one of `names` that is present is bfloat16.
    func areBFloat16(_ names: [String]) -> Bool {
        all.filter { names.contains($0.0) }.allSatisfy { $0.1.dtypeName == BFloat16.dtypeName }
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
