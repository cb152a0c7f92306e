import Foundation
import Hex
import Journal
import PCSC
import Purse
import Terminal
import Testing
import TestSupport
import VirtualCards

/// Real purchases through pcscd and vpcd (the README's test command starts
/// pcscd). Serialized: the readers are shared.
@Suite(.serialized) struct PurchaseEndToEndTests {
    static func approved(_ outcome: PurchaseOutcome) -> PurchaseReceipt? {
        if case .approved(let receipt) = outcome { return receipt }
        Issue.record("expected approval, got \(outcome)")
        return nil
    }

    static func declineReason(_ outcome: PurchaseOutcome) -> DeclineReason? {
        if case .declined(let decline) = outcome { return decline.reason }
        return nil
    }

    /// Card options the terminal must accept, each a full purchase.
    static let variants: [(String, PurseCardState, PSAMState)] = {
        var card61 = PurseCardState.testCard1()
        card61.answerForm = .getResponse
        var card6C = PurseCardState.testCard2()
        card6C.answerForm = .wrongLength
        var psam6C = PSAMState.testPSAM()
        psam6C.answerForm = .wrongLength
        var withoutFCIData = PurseCardState.testCard1()
        withoutFCIData.fciHasApplicationInfo = false
        withoutFCIData.dfNameSuffix = [0x01, 0x02]
        var withCode = PurseCardState.testCard1()
        withCode.authenticationCode = HexBytes(wrappedValue: [UInt8](hex: "85C3B2A190C3B2A190")!)
        var noCode6D00 = PurseCardState.testCard1()
        noCode6D00.noAuthenticationCodeStatus = 0x6D00
        var psamMFOnly = PSAMState.testPSAM()
        psamMFOnly.terminalNumberOnlyInMF = true
        psamMFOnly.selectCarriesFCI = true
        psamMFOnly.answerForm = .direct
        return [
            ("3DES CU card", .testCard1(), .testPSAM()),
            ("SM4 TU card without 9F0C", .testCard2(), .testPSAM()),
            ("card in 61xx mode", card61, .testPSAM()),
            ("card and PSAM in 6Cxx mode", card6C, psam6C),
            ("CU card without 9F0C, longer DF name", withoutFCIData, .testPSAM()),
            ("CU card with authentication code", withCode, .testPSAM()),
            ("CU card answering 6D00 for no code", noCode6D00, psamMFOnly),
        ]
    }()

    @Test(arguments: variants.indices)
    func approvedPurchase(_ index: Int) throws {
        let (name, card, psam) = Self.variants[index]
        let bench = try SimulatedTerminal(card: card, psam: psam)
        defer { try? bench.close() }
        let before = try bench.cardState()
        let sequenceBefore = try bench.psamState().sequence

        var pendingSeen: PendingDebit?
        let outcome = try bench.purchase(180, recordPending: { pendingSeen = $0 })
        guard let receipt = Self.approved(outcome) else { return }

        let after = try bench.cardState()
        #expect(after.balance == before.balance - 180, "\(name)")
        #expect(after.offlineCounter == before.offlineCounter + 1)
        #expect(receipt.balanceAfter == after.balance)
        #expect(receipt.debit.terminalSequence == sequenceBefore)
        #expect(try bench.psamState().sequence == sequenceBefore + 1)
        #expect(receipt.mac2Verified)
        #expect(tacVerifies(receipt), "TAC recomputes under the test MTK")
        #expect(pendingSeen == receipt.debit)
        #expect(after.history.first?.wrappedValue.prefix(2).hex == BigEndian.bytes(UInt64(before.offlineCounter + 1), width: 2).hex)
    }

    /// The card, the PSAM and the journal get the terminal's local time, in
    /// the zone the device is set to (`TZ` here; /etc/localtime on a device),
    /// not UTC: FoundationEssentials alone knows no zone but GMT.
    @Test func theTimeOfASaleIsTheDevicesLocalTime() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        // POSIX zone strings: no zoneinfo needed. "CST-8" is UTC+8 (China), "XST+5" UTC-5.
        for (zone, offset) in [("CST-8", 8 * 3600), ("XST+5", -5 * 3600), ("UTC0", 0)] {
            // A journal of its own each: a journal never lets its time go backwards.
            let data = bench.directory.appendingPathComponent("data-\(zone)")
            let before = Date()
            let run = try PosdRun.run(["purchase", "--amount", "1", "--json", "--data-dir", data.path], environment: ["TZ": zone])
            let after = Date()
            #expect(run.status == 0, "\(run.stdout)\(run.stderr.suffix(500))")
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyyMMddHHmmss"
            formatter.timeZone = TimeZone(secondsFromGMT: offset)
            let (earliest, latest) = (formatter.string(from: before), formatter.string(from: after))
            let time = try Journal(directory: data, readOnly: true).records(after: 0, limit: 10).last?.record.time ?? ""
            #expect((earliest...latest).contains(time), "TZ=\(zone): the sale's time \(time), local time \(earliest)...\(latest)")
        }
    }

    @Test func insufficientBalanceDebitsNothing() throws {
        let bench = try SimulatedTerminal(card: .testCard2())
        defer { try? bench.close() }
        let sequenceBefore = try bench.psamState().sequence
        let outcome = try bench.purchase(5001)
        #expect(Self.declineReason(outcome) == .insufficientBalance)
        #expect(try bench.cardState() == PurseCardState.testCard2())
        #expect(try bench.psamState().sequence == sequenceBefore, "no MAC1 was asked")
    }

    @Test(arguments: [true, false])
    func blockedCardIsRefusedAtSelect(_ withFCI: Bool) throws {
        var card = PurseCardState.testCard1()
        card.block = .temporary
        card.blockedSelectCarriesFCI = withFCI
        let bench = try SimulatedTerminal(card: card)
        defer { try? bench.close() }
        #expect(Self.declineReason(try bench.purchase(100)) == .appBlocked)
        #expect(try bench.cardState().balance == 10000)
    }

    @Test func permanentlyBlockedCardIsRefused() throws {
        var card = PurseCardState.testCard2()
        card.block = .permanent
        card.permanentBlockAnsweredAtSelect = false  // 9303 from the first command after SELECT
        let bench = try SimulatedTerminal(card: card)
        defer { try? bench.close() }
        #expect(Self.declineReason(try bench.purchase(100)) == .appBlocked)
        #expect(try bench.cardState().balance == 5000)
    }

    /// The card leaves the field after MAC1, just before DEBIT: nothing may be
    /// debited, and the terminal must not claim either outcome.
    @Test func cardRemovedBeforeDebit() throws {
        let bench = try SimulatedTerminal(card: .testCard1())
        defer { try? bench.close() }
        let outcome = try bench.purchase(250, recordPending: { _ in
            bench.card.remove()
            bench.card.waitUntilRemoved()
        })
        guard case .uncertain(let pending, _) = outcome else {
            Issue.record("expected uncertain, got \(outcome)")
            return
        }
        #expect(pending.amount == 250)
        let after = try bench.cardState()
        #expect(after.balance == 10000)
        #expect(after.offlineCounter == 5)
        #expect(after.history.isEmpty)
    }

    /// The card loses power right after its commit: it was debited, the
    /// terminal saw no answer, so the outcome is uncertain (never "declined").
    @Test func tornAfterCommitIsUncertainWithTheCardDebited() throws {
        let bench = try SimulatedTerminal(card: .testCard2())
        defer { try? bench.close() }
        bench.card.withCard { $0.armTear(.debit, nth: 1, .afterCommit) }
        let outcome = try bench.purchase(300)
        guard case .uncertain(let pending, _) = outcome else {
            Issue.record("expected uncertain, got \(outcome)")
            return
        }
        let after = try bench.cardState()
        #expect(after.balance == 4700)
        #expect(after.offlineProof?.counterAfter == pending.counter + 1, "GET TRANSACTION PROVE can settle it later")
    }

    @Test(arguments: [true, false])
    func balanceAndHistory(_ emptyAs6A83: Bool) throws {
        var card = PurseCardState.testCard1()
        card.emptyHistoryAs6A83 = emptyAs6A83
        let bench = try SimulatedTerminal(card: card)
        defer { try? bench.close() }
        _ = Self.approved(try bench.purchase(100))
        _ = Self.approved(try bench.purchase(200))
        let report = try bench.terminal.balance(timeoutMilliseconds: 10_000).get()
        #expect(report.balance == 9700)
        #expect(report.history.map(\.amount) == [200, 100])
        #expect(report.history.map(\.counter) == [7, 6])
    }
}
