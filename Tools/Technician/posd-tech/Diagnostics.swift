import ArgumentParser
import BoardPanel
import ClearingAPI
import ClearingClient
import FlightRecorder
import Foundation
import Hex
import ISO7816
import Journal
import Logging
import Panel
import PCSC
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

    struct Check: Encodable {
        var name: String
        var ok: Bool
        var detail: String
    }

    struct Report: Encodable {
        var ok: Bool
        var terminalID: String?
        var checks: [Check]
        /// The last taps' APDUs, PINs redacted.
        var flightRecorder: [FlightRecorder.Trace]

        enum CodingKeys: String, CodingKey {
            case ok, checks
            case terminalID = "terminal_id", flightRecorder = "flight_recorder"
        }
    }

    func run() async throws {
        let data = URL(fileURLWithPath: dataDir)
        var checks: [Check] = []
        func check(_ name: String, _ body: () throws -> String) {
            do { checks.append(Check(name: name, ok: true, detail: try body())) } catch {
                checks.append(Check(name: name, ok: false, detail: "\(error)"))
            }
        }
        let settings = try? TerminalSettings.load(from: data)
        check("settings") {
            guard let settings else { throw Failure("not provisioned (\(TerminalSettings.url(in: data).path) missing)") }
            return "terminal \(settings.terminalID), \(settings.mode.rawValue), platform \(settings.clearingURL)"
        }
        let cardReader = settings?.cardReader ?? "Virtual PCD 00 00", psamReader = settings?.psamReader ?? "Virtual PCD 00 01"
        // Beside a live terminal: its readers, PSAM and panel are its own; only what can be read without them is checked.
        let service = ServiceLock.runningService(in: data)
        if let service {
            check("service") {
                "posd run (pid \(service.pid), \(service.mode)) is serving: readers, PSAM and panel left to it (stop the service for those checks)"
            }
        }
        if service == nil {
            check("readers") { try TerminalChecks.readers(cardReader, psamReader) }
            var terminal: Terminal?
            check("PSAM") {
                let (detail, started) = try TerminalChecks.psam(cardReader, psamReader, provisioned: settings?.terminalID)
                terminal = started
                return detail
            }
            if let terminal {
                check("APDU round trip") {
                    let readTerminalNumber = CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x96, p2: 0x00, le: 0x06)
                    var times: [Duration] = []
                    for _ in 0..<max(1, roundTrips) {
                        times.append(try ContinuousClock().measure { _ = try terminal.psam.channel.send(readTerminalNumber) })
                    }
                    let ms = times.map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1e3 }.sorted()
                    return String(format: "%d × READ BINARY to the PSAM: median %.2f ms, max %.2f ms", ms.count, ms[ms.count / 2], ms.last!)
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
            guard let oldest = exposure.oldestTime else { return "none" }
            return "\(exposure.records) records (\(exposure.debitAmount) fen of debits), oldest from \(oldest)"
        }
        if let settings {
            let result = await Self.platformCheck(settings: settings, data: data)
            checks.append(Check(name: "clearing platform", ok: result.ok, detail: result.detail))
        }
        let recorded = Array(FlightRecorder.read(directory: data).suffix(max(0, recordedTaps)))
        let report = Report(ok: checks.allSatisfy(\.ok), terminalID: settings?.terminalID, checks: checks, flightRecorder: recorded)
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
    static func platformCheck(settings: TerminalSettings, data: URL) async -> (ok: Bool, detail: String) {
        do {
            let token = try String(contentsOf: TerminalSettings.tokenURL(in: data), encoding: .utf8)
            let endpoint = try ClearingEndpoint(url: settings.clearingURL, terminalID: settings.terminalID, token: token)
            let client = ClearingClient(endpoint: endpoint, timeout: .seconds(5), logger: Logger(label: "posd-tech"))
            let started = ContinuousClock.now
            let answer = try await client.parameters(ifNoneMatch: nil)
            let elapsed = ContinuousClock.now - started
            let ms = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
            let offset = answer.serverDate.map { Int($0.timeIntervalSinceNow.rounded()) }
            let journalOffset = Journal(directory: data, readOnly: true).clockOffsetSeconds
            return (true, String(format: "reachable in %.0f ms; clock offset %@ s (correction in force %d s)", ms,
                                 offset.map(String.init) ?? "unknown", journalOffset))
        } catch {
            return (false, "\(error)")
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
    static func journal(_ journal: Journal, in data: URL) throws -> String {
        let marker = data.appendingPathComponent(Journal.markerName).path
        if !FileManager.default.fileExists(atPath: journal.databaseURL.path) && !FileManager.default.fileExists(atPath: marker) {
            return "none yet: the terminal makes it at its first start"
        }
        if let fault = journal.fault { throw Failure("FAULT: \(fault)") }
        let verified = try journal.verifyWholeChain()
        let size = ["", "-wal"].compactMap { try? FileManager.default.attributesOfItem(atPath: journal.databaseURL.path + $0)[.size] as? Int }
            .reduce(0, +)
        let open = try journal.openEntries()
        if let unresolved = open.first(where: { $0.state == .unresolved }) {
            throw Failure("chain of \(verified) records verified; UNRESOLVED entry #\(unresolved.id) for card \(unresolved.entry.cardNo)")
        }
        return "chain of \(verified) records verified, \(size / 1024) KiB, \(open.count) open entries"
    }
}
