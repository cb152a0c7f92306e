#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import LineIO
#if canImport(Glibc)
import Glibc
#endif

/// The bench's `LinePort`: the board simulator's lines over its Unix socket,
/// one request and one reply per operation, so the simulator sees line
/// changes in the order and at the moments the driver makes them.
///
/// Protocol, one line each way: `W <offset>,<offset>… <levels as 0/1>` → `OK`;
/// `R <offset>,…` → the levels as 0/1.
public final class SimLink: LinePort {
    private let fd: Int32
    private let offsets: [Int]
    private var buffer: [UInt8] = []

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Connects to the simulator at `socketPath`; `specs` are the requested
    /// lines (their offsets on the simulated chip).
    public init(socketPath: String, specs: [LineSpec]) throws {
        offsets = specs.map(\.offset)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard fd >= 0, path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Failure(description: "board simulator socket \(socketPath): bad path")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure(description: "board simulator not reachable at \(socketPath): \(String(cString: strerror(errno)))")
        }
    }

    deinit { close(fd) }

    public func read(_ indexes: [Int]) throws -> [Bool] {
        let reply = try exchange("R " + indexes.map { String(offsets[$0]) }.joined(separator: ","))
        guard reply.count == indexes.count, reply.allSatisfy({ $0 == "0" || $0 == "1" }) else {
            throw Failure(description: "board simulator answered \(reply)")
        }
        return reply.map { $0 == "1" }
    }

    public func write(_ indexes: [Int], _ levels: [Bool]) throws {
        let reply = try exchange("W " + indexes.map { String(offsets[$0]) }.joined(separator: ",") + " "
                                 + String(levels.map { $0 ? "1" : "0" }))
        guard reply == "OK" else { throw Failure(description: "board simulator answered \(reply)") }
    }

    private func exchange(_ line: String) throws -> String {
        let out = Array((line + "\n").utf8)
        guard out.withUnsafeBytes({ send(fd, $0.baseAddress, out.count, Int32(MSG_NOSIGNAL)) }) == out.count else {
            throw Failure(description: "board simulator connection lost")
        }
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let reply = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return reply
            }
            var chunk = [UInt8](repeating: 0, count: 256)
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw Failure(description: "board simulator connection lost") }
            buffer += chunk.prefix(n)
        }
    }
}

/// Real time for the drivers on the bench and the terminal.
public final class SystemClock: PanelClock {
    public init() {}
    public var nanoseconds: UInt64 { DispatchTime.now().uptimeNanoseconds }
    public func wait(nanoseconds delay: UInt64) {
        guard delay > 0 else { return }
        var request = timespec(tv_sec: Int(delay / 1_000_000_000), tv_nsec: Int(delay % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
