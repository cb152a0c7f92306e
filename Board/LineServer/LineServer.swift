import ArgumentParser
import Posix
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// A line-per-request channel on a Unix socket: each line a client writes gets
/// one reply line, until the client closes. Each connection has its own
/// thread, so a driver holding a connection open never blocks a technician's
/// one-off command. This is how the simulators are steered and, for the board
/// simulator, how the bench's drivers reach its lines.
public final class ControlServer: @unchecked Sendable {
    private let path: String
    private let handler: @Sendable (String) -> String
    /// A longer line ends its connection (nil: no bound, for the simulators' own tools).
    private let maxLineBytes: Int?
    private var listener: Int32 = -1

    public init(path: String, maxLineBytes: Int? = nil, handler: @escaping @Sendable (String) -> String) {
        self.path = path
        self.maxLineBytes = maxLineBytes
        self.handler = handler
    }

    public func start() throws {
        unlink(path)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw ControlError.system("socket", errno) }
        var address = try unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(listener, 8) == 0 else { throw ControlError.system("bind/listen \(path)", errno) }
        try detachThread { [self] in acceptLoop() }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            do {
                try detachThread { [self] in
                    var reader = LineReader(fd: client, maxLineBytes: maxLineBytes)
                    while let line = reader.next(), (try? FileDescriptor(rawValue: client).writeAll(handler(line) + "\n")) != nil {}
                    close(client)
                }
            } catch {
                close(client)  // no thread to serve it: the client sees the connection close
            }
        }
    }
}

public enum ControlError: Error, CustomStringConvertible {
    case system(String, Int32)
    case pathTooLong(String)

    public var description: String {
        switch self {
        case .system(let what, let code): "\(what): \(String(cString: strerror(code)))"
        case .pathTooLong(let path): "socket path too long: \(path)"
        }
    }
}

/// Sends one command line to a `ControlServer` and returns its reply line.
public func controlRequest(path: String, _ line: String) throws -> String {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ControlError.system("socket", errno) }
    defer { close(fd) }
    var address = try unixAddress(path)
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else { throw ControlError.system("connect \(path)", errno) }
    do throws(SystemError) { try FileDescriptor(rawValue: fd).writeAll(line + "\n") } catch { throw ControlError.system("write", error.errno) }
    var reader = LineReader(fd: fd)
    return reader.next() ?? ""
}

private func unixAddress(_ path: String) throws -> sockaddr_un {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw ControlError.pathTooLong(path) }
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
        raw.copyBytes(from: bytes)
    }
    return address
}

/// Lines from a socket, read in blocks.
private struct LineReader {
    let fd: Int32
    var maxLineBytes: Int? = nil
    var buffer: [UInt8] = []

    mutating func next() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            if let maxLineBytes, buffer.count > maxLineBytes { return nil }
            var chunk = [UInt8](repeating: 0, count: 512)
            let n = read(fd, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            buffer += chunk.prefix(n)
        }
    }
}

/// A parent's blocked signals are inherited across spawn (test runners and
/// shells block some); a simulator, or posd, must still stop on SIGTERM and
/// SIGINT, whoever started it.
public func unblockStopSignals() {
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    sigaddset(&stopSignals, SIGTERM)
    sigaddset(&stopSignals, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
}

/// The `control` subcommand's arguments, shared by the simulators' tools.
public struct ControlArguments: ParsableArguments {
    @Argument(help: "The simulator's control socket.")
    public var socket: String

    @Option(help: "Seconds to wait for the socket to accept (a simulator just started); 0: fail at once.")
    public var waitSeconds = 0

    @Argument(parsing: .remaining, help: "The command.")
    public var words: [String]

    public init() {}

    /// Sends the command and prints the reply; a reply other than `ok…` fails the tool.
    public func send() throws {
        let deadline = Date().addingTimeInterval(Double(min(max(waitSeconds, 0), 600)))
        var reply: String
        while true {
            do {
                reply = try controlRequest(path: socket, words.joined(separator: " "))
                break
            } catch where Date() < deadline {
                usleep(50_000)  // the server is not listening yet
            }
        }
        print(reply)
        if !reply.lowercased().hasPrefix("ok") { throw ExitCode.failure }
    }
}
