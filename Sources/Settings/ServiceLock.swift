#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `<data-dir>/posd.run`: held (an exclusive `flock`) by the `posd run` that
/// serves this data directory, and naming it. A technician's tool asks it
/// before touching the readers, the PSAM or the panel, so it never fights the
/// live terminal for them. The kernel drops the lock when the service dies,
/// however it dies: a stale file never blocks anyone.
public final class ServiceLock: Sendable {
    public static let fileName = "posd.run"

    /// Who holds the lock, as the service wrote it.
    public struct Holder: Codable, Equatable, Sendable {
        public var pid: Int32
        public var mode: String
        public var started: Date

        public init(pid: Int32, mode: String, started: Date) {
            self.pid = pid
            self.mode = mode
            self.started = started
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case held(Holder?)
        case unusable(String)

        public var description: String {
            switch self {
            case .held(let holder?): "posd run (pid \(holder.pid), \(holder.mode), since \(holder.started)) already serves this data directory"
            case .held(nil): "another posd run already serves this data directory"
            case .unusable(let why): "\(ServiceLock.fileName): \(why)"
            }
        }
    }

    private let descriptor: Int32

    /// Takes the lock for this process (the service), or says who has it.
    public init(directory: URL, mode: String) throws(Failure) {
        let url = directory.appendingPathComponent(Self.fileName)
        let fd = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .unusable(String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw .held(Self.holder(at: url))
        }
        descriptor = fd
        let holder = Holder(pid: getpid(), mode: mode, started: Date())
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let bytes = [UInt8]((try? encoder.encode(holder)) ?? Data())
        _ = ftruncate(fd, 0)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, 0) }
    }

    deinit { close(descriptor) }

    /// The running service of `directory`, or nil when none holds the lock
    /// (pid 0 when it holds it but its file cannot be read).
    public static func runningService(in directory: URL) -> Holder? {
        let url = directory.appendingPathComponent(fileName)
        let fd = open(url.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard flock(fd, LOCK_SH | LOCK_NB) != 0 else {
            flock(fd, LOCK_UN)
            return nil
        }
        return holder(at: url) ?? Holder(pid: 0, mode: "unknown", started: .distantPast)
    }

    private static func holder(at url: URL) -> Holder? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(Holder.self, from: data)
    }
}
