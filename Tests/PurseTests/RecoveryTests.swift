import Hex
import ISO7816
@testable import Purse
import Testing
import TestFixtures

/// §9.3 with scripted cards: each way recovery can end, and what the flow
/// does next.
@Suite struct RecoveryTests {
    typealias D = PurchaseDeclineTests
    static let v = D.v

    /// The torn debit of the vector's purchase: N = 5, 2.50, T = 0x101.
    static let torn = PendingDebit(
        cardNumber: CardNumber(hex: "8888000000000001")!, profile: .cu, transactionType: 0x06, amount: 250, balanceBefore: 10000,
        counter: 5, keyVersion: 1, algorithmID: 0, cardRandom: v.bytes("random"), terminalSequence: 0x101,
        time: BCDDateTime(v.bytes("datetime"))!, terminalNumber: v.bytes("terminal_no"))

    final class FakeJournal: PurchaseJournal {
        var open: PendingDebit?
        var settled: [RecoveryResult] = []
        var pending: [PendingDebit] = []
        var completed: [PurchaseReceipt] = []
        init(open: PendingDebit?) { self.open = open }
        func uncertainDebit(of card: CardNumber) -> PendingDebit? { open?.cardNumber == card ? open : nil }
        func settle(_ debit: PendingDebit, _ result: RecoveryResult) throws { settled.append(result) }
        func recordPending(_ debit: PendingDebit) throws -> Int64? {
            pending.append(debit)
            return nil
        }
        func recordComplete(_ receipt: PurchaseReceipt) throws { completed.append(receipt) }
        func isHotListed(_ card: CardNumber) -> Bool { false }
    }

    static func run(_ answers: [[UInt8]], journal: FakeJournal, requiredCard: CardNumber? = nil, amount: UInt32 = 250)
        -> (PurchaseOutcome, ScriptedLink) {
        let card = ScriptedLink(answers)
        let psam = PSAM(channel: APDUChannel(ScriptedLink([v.bytes("psam_8070_resp"), D.ok])),
                        terminalNumber: v.bytes("terminal_no"), purchaseKeyIndex: 1)
        let flow = PurchaseFlow(journal: journal, requiredCard: requiredCard)
        return (flow.run(card: APDUChannel(card), psam: psam, amount: amount, time: D.time), card)
    }

    @Test func committedDebitIsCompletedFromTheProofAndNeverDebitedAgain() {
        let journal = FakeJournal(open: Self.torn)
        let (outcome, card) = Self.run([D.select, Self.v.bytes("prove_resp")], journal: journal)
        guard case .recovered(let receipt) = outcome else { Issue.record("\(outcome)"); return }
        #expect(card.sent.map(\.hex) == ["00A4040009A00000000386980701", "805A0006020006"])
        #expect(receipt.tac == Self.v.bytes("tac"))
        #expect(receipt.mac2 == Self.v.bytes("mac2"))
        #expect(receipt.debit == Self.torn)
        #expect(journal.settled == [.committed(receipt)])
        #expect(journal.pending.isEmpty, "nothing new is debited")
    }

    @Test func uncommittedDebitFailsAndTheCardIsServedAfresh() {
        let journal = FakeJournal(open: Self.torn)
        let other = [UInt8](hex: "0005000000000000640611223344556620261121090000")!  // an older purchase, not ours
        let (outcome, card) = Self.run([D.select, [0x94, 0x06], [0x00, 0x00, 0x27, 0x10, 0x90, 0x00], other + D.ok,
                                        D.noCode, D.initOK, D.debitOK], journal: journal)
        guard case .approved = outcome else { Issue.record("\(outcome)"); return }
        #expect(journal.settled == [.notCommitted])
        #expect(journal.pending.count == 1, "a fresh debit with its own PENDING entry")
        #expect(card.sent.map(\.hex).prefix(4) == ["00A4040009A00000000386980701", "805A0006020006", "805C000204", "00B201C417"])
    }

    @Test(arguments: [
        // balance moved though the newest record is not ours
        [[0x94, 0x06], [0x00, 0x00, 0x26, 0x16, 0x90, 0x00], [0x6A, 0x83]],
        // our record is there but PROVE said nothing
        [[0x94, 0x06], [0x00, 0x00, 0x27, 0x10, 0x90, 0x00], [UInt8](hex: "0006000000000000FA0611223344556620261122140305")! + [0x90, 0x00]],
    ] as [[[UInt8]]])
    func contradictoryAnswersAreUnresolved(_ answers: [[UInt8]]) {
        let journal = FakeJournal(open: Self.torn)
        let (outcome, _) = Self.run([D.select] + answers, journal: journal)
        #expect(D.reason(.init(outcome: outcome, cardSent: [], psamSent: [], pendingBeforeDebit: false)) == .recoveryUnresolved)
        guard case .unresolved? = journal.settled.first else { Issue.record("\(journal.settled)"); return }
        #expect(journal.pending.isEmpty)
    }

    @Test func cardGoneDuringRecoveryLeavesTheEntryUncertain() {
        let journal = FakeJournal(open: Self.torn)
        let (outcome, _) = Self.run([D.select], journal: journal)
        guard case .declined(let decline) = outcome else { Issue.record("\(outcome)"); return }
        #expect(decline.reason == .cardRemoved)
        guard case .noAnswer? = journal.settled.first else { Issue.record("\(journal.settled)"); return }
    }

    @Test func otherCardsAreServedNormallyWhileAnEntryIsOpen() {
        var elsewhere = Self.torn
        elsewhere.cardNumber = CardNumber(hex: "8888000000000009")!
        let journal = FakeJournal(open: elsewhere)
        let (outcome, _) = Self.run([D.select, D.noCode, D.initOK, D.debitOK], journal: journal)
        guard case .approved = outcome else { Issue.record("\(outcome)"); return }
        #expect(journal.settled.isEmpty)
    }

    @Test func onlyTheRequiredCardIsServedWhenOneIsAskedFor() {
        let (outcome, card) = Self.run([D.select], journal: FakeJournal(open: nil), requiredCard: CardNumber(hex: "8888000000000002")!)
        guard case .declined(let decline) = outcome else { Issue.record("\(outcome)"); return }
        #expect(decline.reason == .wrongCard)
        #expect(card.sent.count == 1)
    }
}
