#if canImport(Glibc)
import Glibc
#endif

/// An open file, by its descriptor: thin typed calls over open(2), read(2),
/// write(2), lseek(2), fsync(2) and close(2), in the manner of swift-system.
/// Failures are `SystemError` values; EINTR is retried, never reported.
/// Foundation's `FileHandle` does the same, but the firmware links only
/// FoundationEssentials, which has none.
public struct FileDescriptor: Hashable, Sendable {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let standardInput = FileDescriptor(rawValue: STDIN_FILENO)
    public static let standardOutput = FileDescriptor(rawValue: STDOUT_FILENO)
    public static let standardError = FileDescriptor(rawValue: STDERR_FILENO)

    /// open(2) with `flags` (`O_CLOEXEC` always added: no program we start inherits it).
    public static func open(_ path: String, _ flags: Int32, permissions: mode_t = 0o600) throws(SystemError) -> FileDescriptor {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, permissions)
            if fd >= 0 { return FileDescriptor(rawValue: fd) }
            guard errno == EINTR else { throw SystemError("open \(path)") }
        }
    }

    /// Up to `count` bytes; empty only at the end of the file.
    public func read(upTo count: Int) throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: max(0, count))
        while true {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(rawValue, $0.baseAddress, $0.count) }
            if got >= 0 {
                bytes.removeSubrange(got...)
                return bytes
            }
            guard errno == EINTR else { throw SystemError("read") }
        }
    }

    /// Everything from the current offset to the end of the file.
    public func readToEnd() throws(SystemError) -> [UInt8] {
        var all: [UInt8] = []
        while case let chunk = try read(upTo: 1 << 16), !chunk.isEmpty { all += chunk }
        return all
    }

    /// All of `bytes`, however many write(2) calls it takes.
    public func writeAll(_ bytes: some Collection<UInt8>) throws(SystemError) {
        var left = Array(bytes)[...]
        while !left.isEmpty {
            let written = left.withUnsafeBytes { Glibc.write(rawValue, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw SystemError("write", errno: written < 0 ? errno : EIO) }
            left = left.dropFirst(written)
        }
    }

    /// All of `text`, UTF-8.
    public func writeAll(_ text: String) throws(SystemError) {
        try writeAll(Array(text.utf8))
    }

    /// Moves the offset to `offset` bytes from the start.
    public func seek(to offset: Int) throws(SystemError) {
        guard lseek(rawValue, off_t(offset), SEEK_SET) >= 0 else { throw SystemError("lseek to \(offset)") }
    }

    /// fsync(2): the file's data and metadata on the disk.
    public func sync() throws(SystemError) {
        guard fsync(rawValue) == 0 else { throw SystemError("fsync") }
    }

    public func close() {
        _ = Glibc.close(rawValue)
    }

    /// `body` with the file at `path` open, closed after whatever happens.
    public static func withOpened<T>(_ path: String, _ flags: Int32, permissions: mode_t = 0o600,
                                     _ body: (FileDescriptor) throws -> T) throws -> T {
        let file = try open(path, flags, permissions: permissions)
        defer { file.close() }
        return try body(file)
    }
}

/// The size in bytes of the file at `path` (stat(2)). FoundationEssentials'
/// `attributesOfItem` gives it as another integer type than Foundation's, so
/// a cast to `Int` quietly fails there.
public func fileSize(_ path: String) throws(SystemError) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { throw SystemError("stat \(path)") }
    return Int(info.st_size)
}
