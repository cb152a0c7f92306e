import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A line-per-request control channel on a Unix socket: a client connects,
/// writes one command line, reads one reply line, and the server closes.
/// This is how tests and technicians steer a running simulator.
public final class ControlServer: @unchecked Sendable {
    private let path: String
    private let handler: @Sendable (String) -> String
    private var listener: Int32 = -1

    public init(path: String, handler: @escaping @Sendable (String) -> String) {
        self.path = path
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
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "control"
        thread.start()
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            if let line = readLine(client) {
                _ = writeAll(client, Array((handler(line) + "\n").utf8))
            }
            close(client)
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
    guard writeAll(fd, Array((line + "\n").utf8)) else { throw ControlError.system("write", errno) }
    return readLine(fd) ?? ""
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

private func readLine(_ fd: Int32) -> String? {
    var line: [UInt8] = []
    var byte: UInt8 = 0
    while true {
        let n = read(fd, &byte, 1)
        if n < 0 && errno == EINTR { continue }
        guard n == 1 else { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
        if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
        line.append(byte)
    }
}

private func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var sent = 0
    while sent < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + sent, bytes.count - sent) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return false }
        sent += n
    }
    return true
}
