import Foundation
import Journal
import TestSupport
import VirtualCards

/// A terminal in the field: `posd run` as systemd runs it, on a pcscd of the
/// test's own (`PrivatePCSCD`) that the test may crash, restart or reconfigure,
/// the card and PSAM simulators on that pcscd's vpcd, and the reference
/// platform over HTTPS, the terminal trusting the test's clearing CA as
/// provisioned. Independent of the shared pcscd, so it runs beside the other suites.
final class FieldBench {
    let directory: URL
    let pcscd: PrivatePCSCD
    let card: VPCDHost<SimulatedPurseCard>
    let psam: VPCDHost<SimulatedPSAM>
    let platform: PlatformProcess
    /// The test's certificates: the clearing CA the terminal is provisioned with.
    let pki: TestPKI
    let clearingCA: TestPKI.Authority
    var data: URL { directory.appendingPathComponent("data") }
    private var service: PrivatePCSCD.Started?
    /// The running service's result lines (stdout) and log (stderr).
    private(set) var results: LineWatcher?
    private(set) var log: LineWatcher?

    init(card cardState: PurseCardState) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("posd-field-\(UUID().uuidString)")
        pki = try TestPKI(directory: directory.appendingPathComponent("pki"))
        clearingCA = try pki.authority("Test Clearing CA")
        pcscd = try PrivatePCSCD(directory: directory.appendingPathComponent("pcscd"))
        try pcscd.start()
        card = VPCDHost(card: SimulatedPurseCard(state: cardState), port: pcscd.cardPort,
                        stateFile: directory.appendingPathComponent("card.json"), present: false)
        psam = VPCDHost(card: SimulatedPSAM(state: .testPSAM()), port: pcscd.psamPort, stateFile: directory.appendingPathComponent("psam.json"))
        psam.start()
        card.start()
        platform = try PlatformProcess(directory: directory, tls: try pki.server("platform", issuer: clearingCA))
    }

    deinit {
        stopService()
        card.stop()
        psam.stop()
        pcscd.stop(signal: SIGKILL)
        try? FileManager.default.removeItem(at: directory)
    }

    var cardState: PurseCardState { card.state }

    /// The platform's clock moved on by `seconds` (days of terminal time in a
    /// test): the running terminal follows its `Date` at the next sync.
    private var skew = 0
    func advanceClock(by seconds: Int, awaitCorrection: Bool = true) async throws {
        skew += seconds
        let logged = log?.all.count ?? 0
        try await platform.control(.POST, "/control/clock", #"{"skew_seconds":\#(skew)}"#)
        if awaitCorrection, log?.await("clock corrected", after: logged, seconds: 20) == nil {
            throw HarnessError("the terminal did not follow the platform's clock")
        }
    }

    /// `posd-tech provision` of this terminal (flat-fare validator on line 18
    /// by default) for the platform over HTTPS with the clearing CA, unless
    /// `clearing` says otherwise.
    func provision(_ extra: [String] = ["--mode", "validator", "--line", "18", "--stop", "1"],
                   clearing: [String]? = nil) throws -> PosdRun {
        let tokenFile = directory.appendingPathComponent("token-from-the-vendor")
        try platform.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        let clearing = try clearing ?? ["--clearing-url", platform.httpsURL ?? platform.url, "--clearing-ca", pki.pemFile(clearingCA).path]
        return try pcscd.runTool(["provision", "--data-dir", data.path, "--terminal-id", terminalID] + clearing + [
                                  "--token-file", tokenFile.path, "--card-reader", PrivatePCSCD.cardReader,
                                  "--psam-reader", PrivatePCSCD.psamReader] + extra, tool: "posd-tech")
    }

    /// Starts `posd run` (delivery and sync every second) and waits until it is ready.
    func startService(_ extra: [String] = []) throws {
        let started = try pcscd.startTool(["run", "--data-dir", data.path, "--upload-interval-seconds", "1", "--sync-interval-seconds", "1",
                                           "--log-level", "info"] + extra)
        (service, results, log) = (started, LineWatcher(started.stdout.fileHandleForReading), LineWatcher(started.stderr.fileHandleForReading))
        guard log?.await("ready", seconds: 30) != nil else {
            throw HarnessError("posd run did not get ready: \(log?.all.suffix(5) ?? [])")
        }
    }

    var servicePID: pid_t? { service?.pid }

    /// Waits (bounded) until everything is delivered, stops the service and
    /// opens its journal read-only, for the books.
    func deliverAndStop() -> Journal {
        let logged = log?.all.count ?? 0
        _ = log?.await("records delivered", "undelivered=0", after: logged, seconds: 30)
        stopService()
        return Journal(directory: data, readOnly: true)
    }

    func stopService() {
        guard let service else { return }
        kill(service.pid, SIGTERM)
        _ = service.wait()
        self.service = nil
    }

    /// The card presented, once (it must be out of the field).
    func present() { card.insert() }

    /// The card lifted, once pcscd has seen it leave the reader (as posd does).
    func lift() throws {
        let seen = pcscd.logLines
        card.remove()
        guard card.waitUntilRemoved(seconds: 10), pcscd.awaitRemoval(from: PrivatePCSCD.cardReader, after: seen) else {
            throw HarnessError("pcscd did not see the card leave")
        }
    }

    /// The next result line after the `from`-th, within `seconds`.
    func result(after from: Int, seconds: Double = 20) throws -> String {
        guard let line = results?.await(after: from, seconds: seconds) else {
            throw HarnessError("no result after line \(from): \(log?.all.filter { !$0.contains("applied") }.suffix(12) ?? [])")
        }
        return line.line
    }
}

/// `posd-tech diagnostics --json` as a script reads it.
extension FieldBench {
    struct Report: Decodable {
        struct Check: Decodable {
            var name: String
            var ok: Bool
            var detail: String
            var figures: [String: Figure]
        }
        var checks: [Check]
    }

    enum Figure: Decodable {
        case number(Int), text(String), flag(Bool), other

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Bool.self) { self = .flag(value) }
            else if let value = try? container.decode(Int.self) { self = .number(value) }
            else if let value = try? container.decode(String.self) { self = .text(value) }
            else { self = .other }
        }
        var number: Int? { if case .number(let value) = self { value } else { nil } }
        var text: String? { if case .text(let value) = self { value } else { nil } }
        var flag: Bool? { if case .flag(let value) = self { value } else { nil } }
    }

    /// `posd-tech diagnostics --json` beside the running terminal, decoded.
    func diagnostics() throws -> Report {
        let run = try pcscd.runTool(["diagnostics", "--data-dir", data.path, "--json", "--round-trips", "1"], tool: "posd-tech")
        guard let report = try? JSONDecoder().decode(Report.self, from: Data(run.stdout.utf8)) else {
            throw HarnessError("diagnostics printed no report: \(run.stdout)\(run.stderr)")
        }
        return report
    }
}
