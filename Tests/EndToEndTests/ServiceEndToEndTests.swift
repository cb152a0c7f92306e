import Foundation
import Journal
import PCSC
import Purse
import Terminal
import Testing
import TestSupport
import VirtualCards

/// `posd run` as a terminal runs it for months: one journal shared by the
/// terminal loop and store-and-forward, parameters applied while it runs, and
/// a technician's diagnostics beside it that leave its readers alone.
extension PurchaseEndToEndTests {
    /// The platform lowers `max_offline_records` to 2 while the validator runs;
    /// the new limit applies from the next tap (not the next start). With the
    /// platform refusing uploads, the third tap is refused for the offline
    /// limit; once the platform takes uploads again, the delivery lifts the
    /// limit at once in the running service (before the fix, the loop and
    /// store-and-forward each had their own journal, and a delivery never
    /// lowered the loop's count: every later tap was refused until a restart).
    @Test func deliveriesLiftTheOfflineLimitsOfARunningTerminal() async throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let platform = try PlatformProcess(directory: bench.directory)
        let data = bench.directory.appendingPathComponent("data")
        let provisioned = try Self.provisionValidator(bench, platform, data: data)
        #expect(provisioned.status == 0, "\(provisioned.stdout)\(provisioned.stderr)")

        // The card comes only once the platform is set up.
        bench.card.remove()
        try PCSCContext().waitForRemoval(from: Self.cardReader, timeoutMilliseconds: 10_000)
        let service = try PosdRun.start(["run", "--data-dir", data.path, "--upload-interval-seconds", "1", "--sync-interval-seconds", "1",
                                         "--log-level", "info"])
        let watchdog = DispatchWorkItem { kill(service.0.processIdentifier, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 180, execute: watchdog)
        defer {
            watchdog.cancel()
            kill(service.0.processIdentifier, SIGTERM)
            _ = PosdRun.finish(service)
        }
        let results = LineWatcher(service.1.fileHandleForReading)
        let log = LineWatcher(service.2.fileHandleForReading)

        // New parameters at the platform; the running terminal stores them at its next sync.
        try await platform.control(.PUT, "/control/parameters", """
            {"version":8,"merchant_id":"898110000000001","max_purchase":50000,"max_balance":100000,"max_load":50000,
             "max_loads_per_day":5,"max_offline_records":2,"max_offline_amount":5000000,"max_offline_hours":168,
             "fares":{"flat":200,"transfer_window_s":5400,"transfer_discount":100}}
            """)
        #expect(log.await("parameters applied", "version=8") != nil, "the running terminal stored version 8: \(log.all.suffix(5))")
        // Uploads refused for now: what is journalled stays undelivered.
        try await platform.control(.POST, "/control/fault", #"{"kind":"503","count":1000,"path":"/v1/records"}"#)

        bench.card.insert()
        let first = results.await("APPROVED")  // tap on: record 1
        #expect(first?.index == 0, "\(results.all)")
        try bench.represent()
        let second = results.await("[already_checked_in]", after: 1)  // a double tap: declined, record 2
        #expect(second?.index == 1, "\(results.all)")
        try bench.represent()
        let third = results.await("[offline_limit]", after: 2)
        #expect(third?.index == 2, "the limit of 2 from the new parameters applies at once: \(results.all)")

        // The platform takes uploads again: the running terminal delivers, and the limit lifts.
        let logged = log.all.count
        try await platform.control(.DELETE, "/control/fault")
        #expect(log.await("records delivered", "undelivered=0", after: logged) != nil, "\(log.all.suffix(5))")
        #expect(try await platform.summary().records == 2)
        try bench.represent()
        let fourth = results.await("[already_checked_in]", after: 3)
        #expect(fourth?.index == 3, "served again after the delivery, without a restart: \(results.all)")

        // A technician's diagnostics beside the live terminal leaves its readers and PSAM alone
        // and reads the journal without writing it; a second service on the same data is refused.
        let diagnostics = try Self.run("posd-tech", ["diagnostics", "--data-dir", data.path, "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(diagnostics.stdout.utf8)) as? [String: Any]
        let checks = (report?["checks"] as? [[String: Any]]) ?? []
        let names = checks.compactMap { $0["name"] as? String }
        #expect(names.contains("service") && !names.contains("PSAM") && !names.contains("readers"), "\(names)")
        let journalCheck = checks.first { $0["name"] as? String == "journal" }
        #expect(journalCheck?["ok"] as? Bool == true, "\(checks)")
        #expect(((journalCheck?["figures"] as? [String: Any])?["size_bytes"] as? Int ?? 0) > 0, "the journal's bytes on disk: \(journalCheck ?? [:])")
        let secondService = try PosdRun.run(["run", "--data-dir", data.path])
        #expect(secondService.status == 78 && secondService.stderr.contains("already serves this data directory"), "\(secondService.stderr)")
        try bench.represent()
        let fifth = results.await("[already_checked_in]", after: 4)
        #expect(fifth?.index == 4, "still serving after the diagnostics: \(results.all)")
    }
}

/// Reader faults in the field, on the shared pcscd: the PSAM pulled and put back.
extension PurchaseEndToEndTests {
    /// While the PSAM is out, sales are refused before DEBIT (the card and the
    /// journal consistent) and the readers say why; once it is back, the
    /// terminal starts it again by itself and sells (before the fix every sale
    /// failed with `psam_error` until a restart).
    @Test func aPSAMPulledAndPutBackIsStartedAgainByItself() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let journal = Journal(directory: bench.directory.appendingPathComponent("data"))
        func sale() throws -> PurchaseOutcome {
            try bench.terminal.purchase(amount: 100, time: journal.transactionTime(), timeoutMilliseconds: 5_000, journal: journal)
        }
        guard case .approved = try sale() else { Issue.record("the first sale"); return }
        #expect(bench.terminal.readers.ready() == nil)

        bench.psam.remove()
        try PCSCContext().waitForRemoval(from: "Virtual PCD 00 01", timeoutMilliseconds: 10_000)
        try bench.represent()
        let refused = try sale()
        guard case .declined(let decline) = refused, decline.reason == .psamError else { Issue.record("\(refused)"); return }
        #expect(bench.terminal.readers.ready() != nil, "the readers say why no sale can be made")
        #expect(throws: Terminal.SetupError.self) { try sale() }

        bench.psam.insert()
        try PCSCContext().waitForCard(in: "Virtual PCD 00 01", timeoutMilliseconds: 10_000)
        #expect(bench.terminal.readers.ready() == nil, "started again once it is back")
        try bench.represent()
        guard case .approved = try sale() else { Issue.record("no sale after the PSAM came back"); return }
        let card = try bench.cardState()
        #expect(card.balance == 10_000 - 200 && card.offlineCounter == 7, "two sales, the refused one untouched")
        #expect(try journal.records(after: 0, limit: 10).map(\.record.kind) == [.purchase, .declined, .purchase])
        #expect(try journal.openEntries().isEmpty)
    }
}
