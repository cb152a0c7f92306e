#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hex
import ISO7816
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The APDU flight recorder: the last taps' exchanges with the card and the
/// PSAM, kept in a file of fixed size (`slots` × `slotBytes`) in the data
/// directory, one slot per tap, reused in turn. Each line is written to the
/// file as it happens (`pwrite`, no `fsync`): a crash of the process loses
/// nothing already written (the page cache keeps it), and the recorder never
/// adds a disk sync to a tap. PINs are redacted before anything is written.
///
/// A slot is text: a header line `#<tap number> <time> <what>`, then one
/// line per APDU (`card > …`, `card < … (0.8 ms)` or `card ! no answer`),
/// NUL-padded to the slot's end; a tap longer than its slot is cut with `…`.
public final class FlightRecorder: Sendable {
    public static let fileName = "flight-recorder.txt"
    public let slots: Int
    public let slotBytes: Int
    private let descriptor: Int32
    private let state: Mutex<State>

    private struct State {
        var tap = 0
        /// Where the next line goes in the current slot, or nil when no tap is open.
        var offset: Int?
    }

    /// Opens (or creates) the ring in `directory`. Nil when the file cannot be
    /// used: the terminal then works without a recorder, never the reverse.
    public init?(directory: URL, slots: Int = 64, slotBytes: Int = 4096) {
        let path = directory.appendingPathComponent(Self.fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0, slots > 0, slotBytes >= 256, ftruncate(fd, off_t(slots * slotBytes)) == 0 else {
            if fd >= 0 { close(fd) }
            return nil
        }
        descriptor = fd
        self.slots = slots
        self.slotBytes = slotBytes
        let newest = Self.traces(fd, slots: slots, slotBytes: slotBytes).last?.tap ?? 0
        state = Mutex(State(tap: newest))
    }

    deinit { close(descriptor) }

    /// Starts the next tap's slot (clearing what it held).
    public func beginTap(_ what: String, at date: Date = Date()) {
        state.withLock { state in
            state.tap += 1
            let start = ((state.tap - 1) % slots) * slotBytes
            var blank = [UInt8](repeating: 0, count: slotBytes)
            let header = Array("#\(state.tap) \(date.formatted(.iso8601)) \(what)\n".utf8.prefix(slotBytes - 1))
            blank.replaceSubrange(0..<header.count, with: header)
            _ = blank.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, slotBytes, off_t(start)) }
            state.offset = header.count
        }
    }

    /// Appends one line to the open tap (nothing when none is open).
    public func note(_ line: String) {
        state.withLock { state in
            guard let offset = state.offset else { return }
            let start = ((state.tap - 1) % slots) * slotBytes
            var bytes = Array((line + "\n").utf8)
            let room = slotBytes - 1 - offset  // the slot always ends in a NUL
            guard room > 0 else { return }
            if bytes.count > room { bytes = Array(bytes.prefix(max(0, room - 4))) + Array("…\n".utf8) }
            _ = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, bytes.count, off_t(start + offset)) }
            state.offset = offset + bytes.count
        }
    }

    /// A command as it leaves (before the answer, so a crash mid-command
    /// still shows what was sent), redacted where it carries a secret.
    public func sent(_ device: String, _ command: [UInt8]) {
        note("\(device) > \(Self.redacted(command)?.hex ?? "(redacted)")")
    }

    /// Its answer, or why there was none.
    public func answered(_ device: String, _ answer: Result<[UInt8], CardLinkError>, after duration: Duration) {
        switch answer {
        case .success(let bytes):
            let tenths = duration.components.seconds * 10_000 + duration.components.attoseconds / 100_000_000_000_000
            note("\(device) < \(bytes.hex) (\(tenths / 10).\(tenths % 10) ms)")
        case .failure(let error):
            note("\(device) ! \(error)")
        }
    }

    /// VERIFY PIN (`00 20`): the PIN digits never reach the file.
    static func redacted(_ command: [UInt8]) -> [UInt8]? {
        command.count > 5 && command[0] == 0x00 && command[1] == 0x20 ? nil : command
    }

    /// One recorded tap.
    public struct Trace: Equatable, Sendable, Encodable {
        public var tap: Int
        public var lines: [String]
    }

    /// The taps held, oldest first.
    public var traces: [Trace] { Self.traces(descriptor, slots: slots, slotBytes: slotBytes) }

    /// The taps held by the ring in `directory`, oldest first (empty when there is none).
    public static func read(directory: URL, slotBytes: Int = 4096) -> [Trace] {
        let fd = open(directory.appendingPathComponent(fileName).path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_size > 0 else { return [] }
        return traces(fd, slots: Int(info.st_size) / slotBytes, slotBytes: slotBytes)
    }

    private static func traces(_ fd: Int32, slots: Int, slotBytes: Int) -> [Trace] {
        var buffer = [UInt8](repeating: 0, count: slotBytes)
        var found: [Trace] = []
        for slot in 0..<slots {
            let read = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, slotBytes, off_t(slot * slotBytes)) }
            guard read > 0 else { continue }
            let text = String(decoding: buffer.prefix(read).prefix { $0 != 0 }, as: UTF8.self)
            let lines = text.split(separator: "\n").map(String.init)
            guard let header = lines.first, header.hasPrefix("#"), let tap = Int(header.dropFirst().prefix { $0 != " " }) else { continue }
            found.append(Trace(tap: tap, lines: lines))
        }
        return found.sorted { $0.tap < $1.tap }
    }
}

/// A `CardLink` that tells the flight recorder every exchange it carries.
public struct RecordingLink: WrappingLink {
    public let inner: any CardLink
    public let device: String
    public let recorder: FlightRecorder

    public init(_ inner: any CardLink, device: String, recorder: FlightRecorder) {
        self.inner = inner
        self.device = device
        self.recorder = recorder
    }

    public func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        recorder.sent(device, command)
        let started = ContinuousClock.now
        do {
            let answer = try inner.transmit(command)
            recorder.answered(device, .success(answer), after: ContinuousClock.now - started)
            return answer
        } catch {
            recorder.answered(device, .failure(error), after: ContinuousClock.now - started)
            throw error
        }
    }
}

