import BoardDefinition
import Foundation
import Journal
import PCSC
import Purse
import Settings
import Testing
import TestSupport
import VirtualCards

/// The technician's tools and the service against the simulated terminal:
/// provision (and its refusals), diagnostics in both formats, then `posd run`
/// as systemd would start it, stopped by SIGTERM in the middle of a tap.
extension PurchaseEndToEndTests {
    /// `posd-tech provision` of the bench's validator (line 18, stop 1, the
    /// test route) as terminal `terminal`, against `url`, with the platform's token.
    static func provisionValidator(_ bench: SimulatedTerminal, _ platform: PlatformProcess, data: URL, terminal: String = "112233445566",
                                   url: String? = nil) throws -> Run {
        let tokenFile = bench.directory.appendingPathComponent("token-from-the-vendor")
        try platform.token.write(to: tokenFile, atomically: true, encoding: .utf8)
        let routeFile = bench.directory.appendingPathComponent("route.json")
        try JSONEncoder().encode(route).write(to: routeFile)
        return try run("posd-tech", ["provision", "--data-dir", data.path, "--terminal-id", terminal, "--clearing-url", url ?? platform.url,
                                     "--token-file", tokenFile.path, "--mode", "validator", "--line", "18", "--stop", "1",
                                     "--route", routeFile.path, "--card-reader", BoardDefinition.benchReaders.card,
                                     "--psam-reader", BoardDefinition.benchReaders.psam])
    }

    @Test func provisionDiagnoseRunAndStopDuringATap() async throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let platform = try PlatformProcess(directory: bench.directory)
        let data = bench.directory.appendingPathComponent("data")
        func provision(_ terminal: String, url: String) throws -> Run {
            try Self.provisionValidator(bench, platform, data: data, terminal: terminal, url: url)
        }

        let otherPSAM = try provision("AABBCCDDEEFF", url: platform.url)
        #expect(otherPSAM.status == 65)
        #expect(otherPSAM.stdout.contains("this PSAM belongs to terminal 112233445566"))
        #expect(try provision("112233445566", url: "http://192.0.2.7:8080").status == 78)
        #expect(try TerminalSettings.load(from: data) == nil, "nothing written after a refusal")

        let provisioned = try provision("112233445566", url: platform.url)
        #expect(provisioned.status == 0, "\(provisioned.stdout)\(provisioned.stderr)")
        #expect(!(provisioned.stdout + provisioned.stderr).contains(platform.token))
        let tokenMode = try FileManager.default.attributesOfItem(atPath: TerminalSettings.tokenURL(in: data).path)[.posixPermissions] as? Int
        #expect(tokenMode == 0o600)
        #expect(try TerminalSettings.load(from: data)?.route == "route.json")

        let report = try Self.run("posd-tech", ["diagnostics", "--data-dir", data.path, "--json"])
        #expect(report.status == 0, "\(report.stdout)")
        let json = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any]
        #expect(json?["ok"] as? Bool == true)
        let names = (json?["checks"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
        #expect(names == ["settings", "readers", "PSAM", "APDU round trip", "journal", "undelivered", "clearing platform"])
        // Typed figures (the schema in the README): numbers as numbers, booleans, ISO 8601 times, fen named as such.
        #expect((json?["generated_at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) } != nil, "\(json?["generated_at"] ?? "none")")
        func figures(_ name: String) -> [String: Any] {
            ((json?["checks"] as? [[String: Any]])?.first { $0["name"] as? String == name }?["figures"] as? [String: Any]) ?? [:]
        }
        #expect(figures("settings")["terminal_id"] as? String == terminalID)
        #expect(figures("PSAM")["terminal_number"] as? String == terminalID)
        #expect(figures("APDU round trip")["round_trips"] as? Int == 20 && figures("APDU round trip")["median_ms"] is Double)
        #expect(figures("journal")["records_verified"] as? Int != nil)
        #expect(figures("undelivered")["records"] as? Int == 0 && figures("undelivered")["debit_amount_fen"] as? Int == 0)
        #expect(figures("clearing platform")["reachable"] as? Bool == true && figures("clearing platform")["latency_ms"] is Double)
        #expect(figures("clearing platform")["clock_offset_s"] as? Int != nil && figures("clearing platform")["clock_correction_s"] as? Int == 0)
        let human = try Self.run("posd-tech", ["diagnostics", "--data-dir", data.path])
        #expect(human.stdout.contains("ok     PSAM: terminal number 112233445566"))
        #expect(human.stdout.contains(/20 × READ BINARY to the PSAM: median \d+\.\d\d ms, max \d+\.\d\d ms/), "\(human.stdout)")
        #expect(human.stdout.contains(/reachable in \d+ ms; clock offset -?\d+ s \(correction in force 0 s\)/), "\(human.stdout)")
        #expect(human.stdout.contains("all checks passed"))

        // The service, with a notify socket as systemd gives it; SIGTERM arrives as DEBIT reaches the card.
        let notify = try NotifySocket(path: bench.directory.appendingPathComponent("notify.sock").path)
        let pid = Shared<Int32>(0)
        bench.card.withCard { card in
            card.hooks.onCommand = { command in
                if command.count > 1 && command[0] == 0x80 && command[1] == 0x54 { kill(pid.with { $0 }, SIGTERM) }
                return .proceed
            }
        }
        let service = Process()
        service.executableURL = Self.binaries.appendingPathComponent("posd")
        service.arguments = ["run", "--data-dir", data.path]
        service.environment = serviceEnvironment(["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"])
        let serviceLog = bench.directory.appendingPathComponent("posd-run.log")
        FileManager.default.createFile(atPath: serviceLog.path, contents: nil)
        service.standardOutput = FileHandle.nullDevice
        service.standardError = try FileHandle(forWritingTo: serviceLog)
        let launched = ContinuousClock.now
        try service.run()
        pid.with { $0 = service.processIdentifier }
        let ready: String
        do { ready = try notify.receive(timeoutSeconds: 20) } catch {
            kill(service.processIdentifier, SIGKILL)
            Issue.record("no READY=1: \((try? String(contentsOf: serviceLog, encoding: .utf8)) ?? "")")
            return
        }
        let coldStart = ContinuousClock.now - launched
        #expect(ready.hasPrefix("READY=1"))
        print("posd run: cold start to READY=1 in \(coldStart)")
        service.waitUntilExit()
        #expect(service.terminationReason == .exit && service.terminationStatus == 0, "a graceful stop")
        #expect(try notify.receive(timeoutSeconds: 5) == "STOPPING=1")

        let journal = Journal(directory: data)
        let records = try journal.records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.cappPurchase], "the tap under way was finished and journalled")
        #expect(try journal.openEntries().isEmpty, "no PENDING entry left behind")
        let card = try bench.cardState()
        #expect(card.offlineCounter == PurseCardState.testCard1().offlineCounter + 1)
        #expect(CompositeRecord(card.compositeRecord, profile: .cu)?.tappedOn == true)
    }
}

/// A datagram socket standing in for systemd's notify socket.
final class NotifySocket {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// The next message (waits in the kernel, bounded).
    func receive(timeoutSeconds: Int) throws -> String {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 0 else { throw POSIXError(.ETIMEDOUT) }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }
}

extension PurchaseEndToEndTests {
    /// `posd-tech selftest` as a new slot runs it at boot, on the bench's
    /// readers: it passes on a provisioned terminal with its PSAM, and names
    /// the failure with the PSAM out, with a binary missing from the slot,
    /// and with the journal in its fault state.
    @Test func theSelfTestChecksWhatANewSlotMustDo() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let platform = try PlatformProcess(directory: bench.directory)
        let data = bench.directory.appendingPathComponent("data")
        #expect(try Self.provisionValidator(bench, platform, data: data).status == 0)
        #expect(Journal(directory: data).fault == nil)
        let slot = bench.directory.appendingPathComponent("slot")
        try FileManager.default.createDirectory(at: slot, withIntermediateDirectories: true)
        for binary in ["posd", "posd-tech"] {
            try FileManager.default.createSymbolicLink(at: slot.appendingPathComponent(binary), withDestinationURL: Self.binaries.appendingPathComponent(binary))
        }
        func selfTest() throws -> Run { try Self.run("posd-tech", ["selftest", "--slot", slot.path, "--data-dir", data.path]) }

        let passed = try selfTest()
        #expect(passed.status == 0 && !passed.stdout.contains("FAILED"), "\(passed.stdout)")
        #expect(["posd starts", "posd-tech starts", "journal", "readers", "PSAM"].allSatisfy { passed.stdout.contains("ok     \($0)") }, "\(passed.stdout)")

        bench.psam.remove()
        try PCSCContext().waitForRemoval(from: "Virtual PCD 00 01", timeoutMilliseconds: 10_000)
        let noPSAM = try selfTest()
        #expect(noPSAM.status == 1 && noPSAM.stdout.contains("FAILED PSAM"), "\(noPSAM.stdout)")
        bench.psam.insert()
        try PCSCContext().waitForCard(in: "Virtual PCD 00 01", timeoutMilliseconds: 10_000)

        try FileManager.default.removeItem(at: slot.appendingPathComponent("posd"))
        let missing = try selfTest()
        #expect(missing.status == 1 && missing.stdout.contains("FAILED posd starts"), "\(missing.stdout)")
        try FileManager.default.createSymbolicLink(at: slot.appendingPathComponent("posd"), withDestinationURL: Self.binaries.appendingPathComponent("posd"))

        try Data("00000000-0000-0000-0000-000000000000\n".utf8).write(to: data.appendingPathComponent(Journal.markerName))
        let faulty = try selfTest()
        #expect(faulty.status == 1 && faulty.stdout.contains("FAILED journal"), "\(faulty.stdout)")
    }
}
