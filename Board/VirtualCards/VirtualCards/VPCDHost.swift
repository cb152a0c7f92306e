import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Puts a simulated card into a vpcd reader slot: connects to vpcd's TCP port
/// (127.0.0.1:35963 for slot 0, 35964 for slot 1), answers its messages, and
/// saves the card's state file after every change.
///
/// vpcd framing: a 2-byte big-endian length, then the payload. A 1-byte
/// payload is a control message (0 power off, 1 power on, 2 reset, 4 get ATR;
/// only 4 is answered); anything longer is a command APDU. pcscd polls with
/// get-ATR between APDUs at any time.
public final class VPCDHost<Card: SimulatedCard>: @unchecked Sendable {
    public static func port(forSlot slot: Int) -> UInt16 { UInt16(35963 + slot) }

    private let condition = NSCondition()  // guards everything below
    private var card: Card
    private var present: Bool
    private var stopping = false
    private var connection: Int32 = -1
    private var connected = false
    private let port: UInt16
    private let stateFile: URL?
    private var thread: Thread?

    /// `present`: whether the card starts in the field.
    public init(card: Card, port: UInt16, stateFile: URL?, present: Bool = true) {
        self.card = card
        self.port = port
        self.stateFile = stateFile
        self.present = present
    }

    public func start() {
        let thread = Thread { [self] in serve() }
        thread.name = "vpcd:\(port)"
        self.thread = thread
        thread.start()
        if let stateFile { try? save(card.state, to: stateFile) }
    }

    /// Puts the card into the field (connects to vpcd).
    public func insert() {
        condition.withLock {
            present = true
            condition.broadcast()
        }
    }

    /// Takes the card out of the field (drops the vpcd connection).
    public func remove() {
        condition.withLock {
            present = false
            if connection >= 0 { shutdown(connection, Int32(SHUT_RDWR)) }
            condition.broadcast()
        }
    }

    /// Waits until the card has left the field (for example after a tear).
    public func waitUntilRemoved() {
        condition.withLock {
            while connected || present { condition.wait() }
        }
    }

    /// Like `waitUntilRemoved`, bounded: false when the card was still in the field after `seconds`.
    public func waitUntilRemoved(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        return condition.withLock {
            while connected || present {
                if !condition.wait(until: deadline) { return !(connected || present) }
            }
            return true
        }
    }

    public func stop() {
        remove()
        condition.withLock {
            stopping = true
            condition.broadcast()
        }
    }

    public var isPresent: Bool { condition.withLock { present } }

    /// Reads or changes the card between commands (options, tear switches).
    public func withCard<T>(_ body: (inout Card) -> T) -> T {
        condition.withLock {
            let before = card.state
            let result = body(&card)
            if card.state != before, let stateFile { try? save(card.state, to: stateFile) }
            return result
        }
    }

    public var state: Card.State { condition.withLock { card.state } }

    // MARK: - Serving vpcd

    private func serve() {
        while true {
            let go: Bool = condition.withLock {
                while !present && !stopping { condition.wait() }
                return !stopping
            }
            guard go else { return }
            guard let socket = connect() else {
                // vpcd not listening yet (pcscd starting or restarting): try again shortly.
                usleep(100_000)
                continue
            }
            let stillWanted = condition.withLock { () -> Bool in
                guard present && !stopping else { return false }
                connection = socket
                connected = true
                return true
            }
            if stillWanted { session(socket) }
            condition.withLock {
                connection = -1
                connected = false
                condition.broadcast()
            }
            close(socket)
        }
    }

    private func session(_ socket: Int32) {
        while let message = receiveMessage(socket) {
            let reply: [UInt8]? = condition.withLock {
                if message.count == 1 {
                    switch message[0] {
                    case 0x04: return card.atr
                    case 0x00, 0x01, 0x02:
                        card.powerCycle()
                        return nil
                    default: return nil
                    }
                }
                let before = card.state
                let answer = card.respond(to: message)
                if card.state != before, let stateFile { try? save(card.state, to: stateFile) }
                if answer == nil { present = false }  // torn: the card leaves the field
                return answer
            }
            if message.count > 1 && reply == nil { return }
            if let reply, !send(socket, reply) { return }
        }
    }

    private func connect() -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(fd)
            return nil
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    /// One framed message, or nil when the connection ends.
    private func receiveMessage(_ fd: Int32) -> [UInt8]? {
        guard let header = receive(fd, count: 2) else { return nil }
        let length = Int(header[0]) << 8 | Int(header[1])
        return length == 0 ? [] : receive(fd, count: length)
    }

    private func receive(_ fd: Int32, count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            // vpcd sends the length and the payload in two writes without
            // TCP_NODELAY; without a quick ACK each APDU stalls ~40 ms. Linux
            // clears QUICKACK after use, so re-arm it before every read.
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size))
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, count - filled, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            filled += n
        }
        return buffer
    }

    private func send(_ fd: Int32, _ payload: [UInt8]) -> Bool {
        let frame = [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)] + payload
        var sent = 0
        while sent < frame.count {
            let n = frame.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, frame.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }
}

/// State files are JSON, written whole and renamed into place so a reader
/// never sees half a file.
public func save<State: Encodable>(_ state: State, to file: URL) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(state).write(to: file, options: .atomic)
}

public func load<State: Decodable>(_ type: State.Type, from file: URL) throws -> State {
    try JSONDecoder().decode(type, from: Data(contentsOf: file))
}
