#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Glibc
import LineServer
import Settings
import Synchronization

/// Where the vehicle is, as a validator prices a tap: the stop the vehicle
/// computer last reported while its reports are fresh, else the provisioned
/// stop (a validator keeps taking fares with the feed gone; the fallback is
/// logged, written for diagnostics, and lifted by the next report).
///
/// The feed is a line protocol on a Unix socket (mode 0660: the posd user
/// and its group, where the vehicle computer's integration runs). Each
/// request line gets one reply line:
///
///     STOP <line> <direction> <stop>   the vehicle is at <stop> (index into the route's
///                                      stops), heading <direction> (0 or 1)  → OK | ERR <why>
///     WHERE                            → OK line=<l> direction=<d> stop=<s> source=feed|provisioned
///
/// A vehicle computer sends STOP on arrival at each stop and again at least
/// every `staleAfter` while standing; lines longer than 256 bytes end the
/// connection.
final class VehiclePosition: Sendable {
    struct Fix: Equatable, Sendable {
        var direction: UInt8
        var stop: UInt16
        /// Uptime nanoseconds of the report.
        var at: UInt64
    }

    enum Source: String, Sendable { case feed, provisioned }

    let line: UInt16
    let provisionedStop: UInt16
    let stopCount: Int?
    let staleAfter: Duration
    /// `<data-dir>/vehicle.json`: the position in use, for `posd-tech diagnostics`.
    let statusFile: URL?
    private let fix = Mutex<Fix?>(nil)
    private let announced = Mutex<(source: Source, stop: UInt16)?>(nil)
    /// Where changes of the stop in use are told; nil without a feed (nothing changes).
    private let log: (@Sendable (String) -> Void)?

    init(line: UInt16, provisionedStop: UInt16, stopCount: Int?, staleAfter: Duration, statusFile: URL?,
         log: (@Sendable (String) -> Void)?) {
        self.line = line
        self.provisionedStop = provisionedStop
        self.stopCount = stopCount
        self.staleAfter = staleAfter
        self.statusFile = statusFile
        self.log = log
    }

    static var uptime: UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// The stop to price a tap at now, and where it came from: a read only,
    /// as a tap needs it (no log line, no file written while a card waits).
    func inForce(now: UInt64 = uptime) -> (stop: UInt16, direction: UInt8?, source: Source) {
        let stale = UInt64(staleAfter.components.seconds) * 1_000_000_000
        return fix.withLock { fix in
            guard let fix, now - fix.at <= stale else { return (provisionedStop, nil, .provisioned) }
            return (fix.stop, fix.direction, .feed)
        }
    }

    /// `inForce`, telling a change of the stop or its source (the idle loop
    /// asks once a second, the feed on every report).
    func current(now: UInt64 = uptime) -> (stop: UInt16, direction: UInt8?, source: Source) {
        let position = inForce(now: now)
        announce(position.stop, position.direction, position.source)
        return position
    }

    /// One request line from the vehicle computer.
    func handle(_ request: String) -> String {
        let words = request.split(separator: " ").map(String.init)
        switch words.first {
        case "STOP":
            guard words.count == 4, let line = UInt16(words[1]), let direction = UInt8(words[2]), let stop = UInt16(words[3]) else {
                return "ERR want STOP <line> <direction> <stop>"
            }
            guard line == self.line else { return "ERR line \(line) is not this validator's line \(self.line)" }
            guard direction <= 1 else { return "ERR direction is 0 or 1" }
            if let stopCount, Int(stop) >= stopCount { return "ERR stop \(stop) is not on the route (0...\(stopCount - 1))" }
            fix.withLock { $0 = Fix(direction: direction, stop: stop, at: Self.uptime) }
            _ = current()
            return "OK"
        case "WHERE" where words.count == 1:
            let (stop, direction, source) = current()
            return "OK line=\(line) direction=\(direction.map(String.init) ?? "-") stop=\(stop) source=\(source.rawValue)"
        default:
            return "ERR unknown request (STOP <line> <direction> <stop>, WHERE)"
        }
    }

    /// Logs and records a change of the stop in use or of its source.
    private func announce(_ stop: UInt16, _ direction: UInt8?, _ source: Source) {
        guard let log else { return }
        let changed = announced.withLock { last in
            defer { last = (source, stop) }
            return last.map { $0.source != source || $0.stop != stop } ?? true
        }
        guard changed else { return }
        switch source {
        case .feed: log("vehicle at stop \(stop) (line \(line), direction \(direction.map(String.init) ?? "-")) from the vehicle feed")
        case .provisioned: log("no vehicle feed: the provisioned stop \(stop) prices taps")
        }
        guard let statusFile else { return }
        let status = VehicleStatus(line: line, direction: direction, stop: stop, source: source.rawValue,
                                   updatedAt: Date().formatted(.iso8601))
        try? JSONEncoder().encode(status).write(to: statusFile, options: .atomic)
    }

    /// Serves the feed on `path` until the process ends.
    func serve(at path: String) throws -> ControlServer {
        let server = ControlServer(path: path, maxLineBytes: 256) { [self] in handle($0) }
        try server.start()
        chmod(path, 0o660)
        return server
    }
}
