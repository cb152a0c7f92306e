import ArgumentParser
import BoardPanel
import ClearingAPI
import ClearingClient
import FlightRecorder
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Hex
import ISO7816
import Journal
import Logging
import Panel
import PCSC
import Posix
import Purse
import Settings
import Terminal

struct Diagnostics: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check the terminal: readers and PSAM, an APDU round trip, GPIO, display and keypad, journal, delivery, platform and clock.",
        discussion: "Exit status 0 when every check passes, 1 when one fails. --json prints one object for scripts.")

    @Option(help: "Data directory of the terminal.")
    var dataDir = "/var/lib/posd"

    @Flag(help: "Print one JSON object instead of the report.")
    var json = false

    @Option(help: "APDU round trips to time against the PSAM.")
    var roundTrips = 20

    @Option(help: "Taps to show from the APDU flight recorder (newest last).")
    var recordedTaps = 5

    /// A measured value of a check, as its JSON type: scripts compare numbers
    /// and times, not the words of `detail`. Amounts are fen (`_fen`),
    /// durations say their unit (`_ms`, `_s`), times are ISO 8601 with offset.
    enum Figure: Encodable, Equatable {
        case int(Int), double(Double), bool(Bool), text(String), time(Date)

        func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .int(let value): try container.encode(value)
            case .double(let value): try container.encode((value * 1000).rounded() / 1000)
            case .bool(let value): try container.encode(value)
            case .text(let value): try container.encode(value)
            case .time(let value): try container.encode(Diagnostics.iso8601(value))
            }
        }
    }

    struct Check: Encodable {
        var name: String
        var ok: Bool
        var detail: String
        var figures: [String: Figure] = [:]
    }

    struct Report: Encodable {
        var ok: Bool
        var generatedAt: String
        var terminalID: String?
        var checks: [Check]
        /// The last taps' APDUs, PINs redacted.
        var flightRecorder: [FlightRecorder.Trace]

        enum CodingKeys: String, CodingKey {
            case ok, checks
            case generatedAt = "generated_at", terminalID = "terminal_id", flightRecorder = "flight_recorder"
        }
    }

    /// `date` in the device's local time with its UTC offset, as ISO 8601
    /// (`2026-12-07T20:15:00+08:00`; `Z` at UTC), the zone as the C library keeps it (`LocalTime`).
    static func iso8601(_ date: Date) -> String {
        guard date.timeIntervalSince1970.magnitude < 1e15, let local = LocalTime(epochSeconds: Int(date.timeIntervalSince1970.rounded(.down))) else {
            return date.formatted(.iso8601)
        }
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let offset = local.utcOffsetSeconds.magnitude / 60
        let zone = local.utcOffsetSeconds == 0 ? "Z" : (local.utcOffsetSeconds < 0 ? "-" : "+") + two(Int(offset / 60)) + ":" + two(Int(offset % 60))
        let year = String(repeating: "0", count: max(0, 4 - "\(local.year)".count)) + "\(local.year)"
        return "\(year)-\(two(local.month))-\(two(local.day))T\(two(local.hour)):\(two(local.minute)):\(two(local.second))" + zone
    }

    /// A journal time (local YYYYMMDDhhmmss) as an instant.
    static func instant(_ text: String) -> Date? {
        guard let time = BCDDateTime(text: text) else { return nil }
        let d = time.bytes.map { Int($0 >> 4) * 10 + Int($0 & 0x0F) }
        let local = LocalTime(year: d[0] * 100 + d[1], month: d[2], day: d[3], hour: d[4], minute: d[5], second: d[6])
        return local.epochSeconds.map { Date(timeIntervalSince1970: Double($0)) }
    }

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir)
        var checks: [Check] = []
        func check(_ name: String, figures: () throws -> (String, [String: Figure])) {
            do {
                let (detail, values) = try figures()
                checks.append(Check(name: name, ok: true, detail: detail, figures: values))
            } catch {
                checks.append(Check(name: name, ok: false, detail: "\(error)"))
            }
        }
        func check(_ name: String, _ body: () throws -> String) { check(name) { (try body(), [:]) } }
        let settings = try? TerminalSettings.load(from: data)
        check("settings") {
            guard let settings else { throw Failure("not provisioned (\(TerminalSettings.url(in: data).path) missing)") }
            return ("terminal \(settings.terminalID), \(settings.mode.rawValue), platform \(settings.clearingURL)",
                    ["terminal_id": .text(settings.terminalID), "mode": .text(settings.mode.rawValue), "clearing_url": .text(settings.clearingURL)])
        }
        if let settings, settings.mode == .validator, settings.vehicleSocket != nil {
            check("vehicle feed", figures: { () throws -> (String, [String: Figure]) in
                guard let status = VehicleStatus.load(from: data) else {
                    throw Failure("no position recorded yet (posd run writes \(VehicleStatus.fileName) once it serves)")
                }
                let figures: [String: Figure] = ["line": .int(Int(status.line)), "stop": .int(Int(status.stop)), "source": .text(status.source),
                                                 "updated_at": .text(status.updatedAt)]
                guard status.source == "feed" else {
                    throw Failure("no vehicle feed since \(status.updatedAt): the provisioned stop \(status.stop) prices taps")
                }
                return ("stop \(status.stop) of line \(status.line) from the vehicle feed (since \(status.updatedAt))", figures)
            })
        }
        // The readers are the provisioned terminal's (its board's): none to check before provisioning.
        // Beside a live terminal: its readers, PSAM and panel are its own; only what can be read without them is checked.
        let service = ServiceLock.runningService(in: data)
        if let service {
            check("service") {
                ("posd run (pid \(service.pid), \(service.mode)) is serving: readers, PSAM and panel left to it (stop the service for those checks)",
                 ["pid": .int(Int(service.pid)), "mode": .text(service.mode)])
            }
        }
        if service == nil, let cardReader = settings?.cardReader, let psamReader = settings?.psamReader {
            check("readers") { try TerminalChecks.readers(cardReader, psamReader) }
            var terminal: Terminal?
            check("PSAM") {
                let (detail, started) = try TerminalChecks.psam(cardReader, psamReader, provisioned: settings?.terminalID)
                terminal = started
                return (detail, ["terminal_number": .text(started.psam.terminalNumber.hex)])
            }
            if let terminal {
                check("APDU round trip") {
                    let readTerminalNumber = CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x96, p2: 0x00, le: 0x06)
                    var times: [Duration] = []
                    for _ in 0..<max(1, roundTrips) {
                        times.append(try ContinuousClock().measure { _ = try terminal.psam.channel.send(readTerminalNumber) })
                    }
                    let ms = times.map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1e3 }.sorted()
                    return ("\(ms.count) × READ BINARY to the PSAM: median \(decimal(ms[ms.count / 2], places: 2)) ms, max \(decimal(ms.last!, places: 2)) ms",
                            ["round_trips": .int(ms.count), "median_ms": .double(ms[ms.count / 2]), "max_ms": .double(ms.last!)])
                }
            }
            if let board = settings?.board {
                var panel: BoardPanel?
                check("GPIO lines") {
                    let opened = try BoardPanel(board: board)
                    panel = opened
                    return "\(opened.definition.allPins.count) lines of \(opened.definition.chip) requested"
                }
                if let panel {
                    check("display test pattern") {
                        try panel.display.initialize()
                        let pattern = (0..<panel.definition.display.rows).map { row in
                            String(String(repeating: "0123456789ABCDEFGHIJ", count: 2).dropFirst(row).prefix(panel.definition.display.columns))
                        }
                        try panel.display.show(pattern)
                        return "\(panel.definition.display.columns)×\(panel.definition.display.rows) pattern shown: check every character"
                    }
                    check("keypad") {
                        // Scanned for twice the debounce time: a key held down now is stuck.
                        var events: [MatrixKeypad.Event] = []
                        for _ in 0..<max(10, panel.definition.keypad.debounceMilliseconds) {
                            events += try panel.keypad.poll()
                            panel.clock.wait(nanoseconds: 2_000_000)
                        }
                        guard events.isEmpty else { throw Failure("keys held at rest (stuck key?): \(events)") }
                        return "no key held at rest"
                    }
                }
            }
        }
        // Read-only: beside a live terminal a second writer could take the journal's lock mid-tap.
        let journal = Journal(directory: data, readOnly: true)
        check("journal") { try TerminalChecks.journal(journal, in: data) }
        check("undelivered") {
            let exposure = journal.offlineExposure
            var figures: [String: Figure] = ["records": .int(exposure.records), "debit_amount_fen": .int(exposure.debitAmount)]
            guard let oldest = exposure.oldestTime else { return ("none", figures) }
            if let instant = Self.instant(oldest) { figures["oldest_record_time"] = .time(instant) }
            return ("\(exposure.records) records (\(exposure.debitAmount) fen of debits), oldest from \(oldest)", figures)
        }
        if let settings {
            let result = await Self.platformCheck(settings: settings, data: data)
            checks.append(Check(name: "clearing platform", ok: result.ok, detail: result.detail, figures: result.figures))
            if let url = URL(string: settings.clearingURL), url.scheme?.lowercased() == "https" {
                do {
                    let (detail, figures) = try await ClearingCA.platformCertificate(url: url)
                    checks.append(Check(name: "clearing certificate", ok: true, detail: detail, figures: figures))
                } catch {
                    checks.append(Check(name: "clearing certificate", ok: false, detail: "\(error)"))
                }
            }
        }
        let recorded = Array(FlightRecorder.read(directory: data).suffix(max(0, recordedTaps)))
        let report = Report(ok: checks.allSatisfy(\.ok), generatedAt: Self.iso8601(Date()), terminalID: settings?.terminalID,
                            checks: checks, flightRecorder: recorded)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            for check in checks { print("\(check.ok ? "ok    " : "FAULT ") \(check.name): \(check.detail)") }
            if !recorded.isEmpty {
                print("last \(recorded.count) taps (flight recorder):")
                for trace in recorded { trace.lines.forEach { print("  " + $0) } }
            }
            print(report.ok ? "all checks passed" : "some checks FAILED")
        }
        if !report.ok { throw ExitCode(TechExit.checkFailed) }
    }

    /// Reachability, latency and the clock offset against the platform's `Date`.
    static func platformCheck(settings: TerminalSettings, data: URL) async -> (ok: Bool, detail: String, figures: [String: Figure]) {
        do {
            let token = try String(contentsOf: TerminalSettings.tokenURL(in: data), encoding: .utf8)
            let endpoint = try ClearingEndpoint(url: settings.clearingURL, terminalID: settings.terminalID, token: token)
            let trust = try settings.clearingCAURL(in: data).map { url throws(PlatformTrust.Invalid) in try PlatformTrust(pemFile: url.path) }
            let client = try ClearingClient(endpoint: endpoint, trust: trust, timeout: .seconds(5), logger: Logger(label: "posd-tech"))
            let started = ContinuousClock.now
            let answer = try await client.parameters(ifNoneMatch: nil)
            let elapsed = ContinuousClock.now - started
            let ms = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
            let offset = answer.serverDate.map { Int($0.timeIntervalSinceNow.rounded()) }
            let journalOffset = Journal(directory: data, readOnly: true).clockOffsetSeconds
            var figures: [String: Figure] = ["reachable": .bool(true), "latency_ms": .double(ms), "clock_correction_s": .int(journalOffset)]
            if let offset { figures["clock_offset_s"] = .int(offset) }
            return (true, "reachable in \(decimal(ms, places: 0)) ms; clock offset \(offset.map(String.init) ?? "unknown") s (correction in force \(journalOffset) s)",
                    figures)
        } catch {
            return (false, "\(error)", ["reachable": .bool(false)])
        }
    }
}

/// The checks `diagnostics` and `selftest` share, each a detail line or a thrown reason.
enum TerminalChecks {
    static func readers(_ cardReader: String, _ psamReader: String) throws -> String {
        let readers = try PCSCContext().readers()
        for name in [cardReader, psamReader] where !readers.contains(name) {
            throw Failure("\(name) missing (readers: \(readers.joined(separator: ", ")))")
        }
        return readers.joined(separator: ", ")
    }

    /// The PSAM started, and the provisioned terminal's.
    static func psam(_ cardReader: String, _ psamReader: String, provisioned: String?) throws -> (String, Terminal) {
        let started = try Terminal(.init(cardReader: cardReader, psamReader: psamReader, psamWaitMilliseconds: 2_000))
        let number = started.psam.terminalNumber.hex
        if let provisioned, provisioned != number { throw Failure("terminal number \(number), provisioned as \(provisioned)") }
        let atr = (started.psam.channel.link as? CardHandle).flatMap { try? $0.atr().hex } ?? "?"
        return ("terminal number \(number), ATR \(atr)", started)
    }

    /// The journal (opened read-only by the caller) out of its fault state, its whole chain verified, nothing UNRESOLVED.
    static func journal(_ journal: Journal, in data: URL) throws -> (String, [String: Diagnostics.Figure]) {
        let marker = data.appendingPathComponent(Journal.markerName).path
        if !FileManager.default.fileExists(atPath: journal.databaseURL.path) && !FileManager.default.fileExists(atPath: marker) {
            return ("none yet: the terminal makes it at its first start", ["records_verified": .int(0)])
        }
        if let fault = journal.fault { throw Failure("FAULT: \(fault)") }
        let verified = try journal.verifyWholeChain()
        let size = ["", "-wal"].compactMap { try? fileSize(journal.databaseURL.path + $0) }.reduce(0, +)
        let open = try journal.openEntries()
        if let unresolved = open.first(where: { $0.state == .unresolved }) {
            throw Failure("chain of \(verified) records verified; UNRESOLVED entry #\(unresolved.id) for card \(unresolved.entry.cardNo)")
        }
        return ("chain of \(verified) records verified, \(size / 1024) KiB, \(open.count) open entries",
                ["records_verified": .int(verified), "size_bytes": .int(size), "open_entries": .int(open.count)])
    }
}

/// `value` rounded to `places` decimals, for a technician's line
/// (`String(format:)` is Foundation's, which posd-tech does not link).
func decimal(_ value: Double, places: Int) -> String {
    guard value.isFinite, value.magnitude < 1e15 else { return "\(value)" }
    let scale = (0..<places).reduce(1) { value, _ in value * 10 }
    let scaled = Int((value.magnitude * Double(scale)).rounded())
    let whole = "\(value < 0 && scaled != 0 ? "-" : "")\(scaled / scale)"
    guard places > 0 else { return whole }
    let fraction = "\(scaled % scale)"
    return whole + "." + String(repeating: "0", count: places - fraction.count) + fraction
}
