import Foundation
import Journal
import Testing
import TestSupport
import VirtualCards

/// Reader faults under a running `posd run`, on a pcscd of the test's own:
/// pcscd crashing in the middle of a DEBIT and coming back, the readers
/// unplugged and plugged back. The terminal says why it takes no taps, keeps
/// its journal consistent, and resumes by itself within seconds.
@Suite struct FieldFaultTests {
    @Test func theTerminalComesBackAfterPcscdCrashesAndTheReadersAreUnplugged() async throws {
        let bench = try FieldBench(card: .testCard1())
        let provisioned = try bench.provision()
        #expect(provisioned.status == 0, "\(provisioned.stdout)\(provisioned.stderr)")
        try bench.startService()
        var line = 0
        /// The next tap's result (a "tap again" request is not one).
        func nextResult() throws -> String {
            while true {
                let result = try bench.result(after: line)
                line += 1
                if !result.contains("AGAIN") { return result }
            }
        }

        // A tap as usual.
        bench.present()
        #expect(try nextResult().contains("APPROVED"))
        try bench.lift()

        // pcscd crashes while the card commits its DEBIT: the answer is lost with it.
        try await bench.advanceClock(by: 6_000)
        let pcscd = bench.pcscd
        let logged = bench.log?.all.count ?? 0
        guard let pcscdPID = pcscd.pid else { throw HarnessError("no pcscd") }
        bench.card.withCard {
            $0.hooks.onCommand = { command in
                if command.count > 1, command[1] == 0x54 { kill(pcscdPID, SIGKILL) }
                return .proceed
            }
        }
        bench.present()
        let torn = try nextResult()
        #expect(torn.contains("UNCERTAIN"), "the debit's answer never arrived: \(torn)")
        #expect(bench.log?.await("no taps: PC/SC service not answering", after: logged) != nil, "\(bench.log?.all.suffix(5) ?? [])")
        bench.card.withCard { $0.hooks = CommandHooks() }
        #expect(bench.cardState.balance == 10_000 - 200 - 200, "the card committed the second debit")

        // pcscd back (systemd restarts it): the terminal takes taps again by
        // itself, and the card still on the reader settles the torn tap.
        pcscd.stop(signal: SIGKILL)
        let beforeRestart = bench.log?.all.count ?? 0
        try pcscd.start()
        #expect(bench.log?.await("taps again", after: beforeRestart) != nil, "\(bench.log?.all.suffix(5) ?? [])")
        let settled = try nextResult()
        #expect(settled.contains("PAID") || settled.contains("APPROVED"), "recovery proved the torn tap paid: \(settled)")
        try bench.lift()
        #expect(bench.cardState.balance == 10_000 - 400, "debited once for the torn tap")

        // The readers unplugged (pcscd restarted without them), then plugged back.
        let beforeUnplug = bench.log?.all.count ?? 0
        pcscd.stop()
        try pcscd.start(friendlyName: "Other PCD")
        #expect(bench.log?.await("no taps: reader \"\(PrivatePCSCD.cardReader)\" not found", after: beforeUnplug) != nil,
                "\(bench.log?.all.suffix(5) ?? [])")
        let beforePlug = bench.log?.all.count ?? 0
        pcscd.stop()
        try pcscd.start()
        #expect(bench.log?.await("taps again", after: beforePlug) != nil, "\(bench.log?.all.suffix(5) ?? [])")
        try await bench.advanceClock(by: 6_000)
        bench.present()
        #expect(try nextResult().contains("APPROVED"))
        try bench.lift()

        // Money and journal: three fares, each once, each journalled and delivered.
        #expect(bench.cardState.balance == 10_000 - 600)
        bench.stopService()
        let journal = Journal(directory: bench.data, readOnly: true)
        let records = try journal.records(after: 0, limit: 100).map(\.record)
        #expect(records.filter { $0.kind == .cappPurchase }.map(\.amount) == [200, 200, 200], "\(records.map(\.kind))")
        #expect(records.filter { $0.kind == .cappPurchase }.allSatisfy { tacVerifies($0) })
        #expect(try journal.openEntries().isEmpty, "nothing left open")
        let verified = try bench.pcscd.runTool(["journal", "verify", "--data-dir", bench.data.path])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    }
}
