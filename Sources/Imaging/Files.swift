#if canImport(Glibc)
import Glibc
private let posix_read = Glibc.read
private let posix_write = Glibc.write
#else
import Darwin
private let posix_read = Darwin.read
private let posix_write = Darwin.write
#endif

/// File access shared by every command: bounded reads, and writes that are atomic and never clobber by accident.
public enum Files {
    public static let standardStream = "-"

    /// How errors name a path: "<stdin>" for "-".
    public static func displayName(_ path: String) -> String { path == standardStream ? "<stdin>" : path }

    /// Reads a whole file (or stdin for "-"), refusing directories and anything over `limit` bytes.
    public static func read(_ path: String, limit: Int = ImageLimits.maxFileBytes) throws -> [UInt8] {
        if path == standardStream { return try readAll(fd: 0, name: "<stdin>", limit: limit) }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ImageError(file: path, problem: reason(errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ImageError(file: path, problem: reason(errno)) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw ImageError(file: path, problem: "is a directory") }
        if Int(info.st_size) > limit {
            throw ImageError(file: path, problem: "file is \(info.st_size) bytes, over the \(limit)-byte limit")
        }
        return try readAll(fd: fd, name: path, limit: limit)
    }

    private static func readAll(fd: Int32, name: String, limit: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { posix_read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageError(file: name, problem: reason(errno))
            }
            if n == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<n])
            if bytes.count > limit { throw ImageError(file: name, problem: "input is over the \(limit)-byte limit") }
        }
    }

    /// Names in a directory (no "." or ".."), sorted bytewise so every machine sees the same order.
    public static func list(_ directory: String) throws -> [String] {
        guard let handle = opendir(directory) else { throw ImageError(file: directory, problem: reason(errno)) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// Writes `bytes` to `path` (or stdout for "-") all at once: a temporary file beside the target, flushed,
    /// then moved into place. Without `overwrite` an existing target is an error, and the check is atomic
    /// (link(2) refuses an existing name), so a concurrent writer cannot be clobbered either.
    public static func writeAtomically(_ bytes: [UInt8], to path: String, overwrite: Bool) throws {
        if path == standardStream {
            try writeAll(bytes, fd: 1, name: "<stdout>")
            return
        }
        if !overwrite && exists(path) {
            throw ImageError(file: path, problem: "already exists (use --force to overwrite)")
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array("\(directory).\(base).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw ImageError(file: path, problem: "cannot create a file here: \(reason(errno))") }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var published = false
        defer { if !published { unlink(temporary) } }
        do {
            try writeAll(bytes, fd: fd, name: path)
            fchmod(fd, 0o644)
            guard fsync(fd) == 0 else { throw ImageError(file: path, problem: reason(errno)) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        if overwrite {
            guard rename(temporary, path) == 0 else { throw ImageError(file: path, problem: reason(errno)) }
        } else {
            guard link(temporary, path) == 0 else {
                let code = errno
                throw ImageError(file: path, problem: code == EEXIST ? "already exists (use --force to overwrite)" : reason(code))
            }
            unlink(temporary)
        }
        published = true
    }

    /// Writes all of `bytes` to an open descriptor, retrying interrupted and partial writes.
    /// - Throws: `ImageError` naming `name` when a write fails (a closed pipe reads as such).
    public static func writeAll(_ bytes: [UInt8], fd: Int32, name: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { posix_write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ImageError(file: name, problem: "write failed: \(reason(errno))")
            }
            offset += n
        }
    }

    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no such file or directory"
        case EACCES: "permission denied"
        case EISDIR: "is a directory"
        case ENOSPC: "no space left on device"
        case EPIPE: "the reader closed the pipe"
        default: String(cString: strerror(code))
        }
    }
}

public extension ImageCodec {
    static func read(_ path: String, maxPixels: Int = ImageLimits.maxPixels) throws -> DecodedImage {
        try decode(Files.read(path), name: Files.displayName(path), maxPixels: maxPixels)
    }
}
