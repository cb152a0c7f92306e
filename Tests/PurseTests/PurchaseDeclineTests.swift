import Hex
import ISO7816
@testable import Purse
import Testing
import TestFixtures

/// Every way a purchase can go wrong before or at DEBIT, with scripted card
/// answers: each ends in a typed outcome, never a crash, and DEBIT is sent only
/// after the PENDING entry was recorded.
@Suite struct PurchaseDeclineTests {
    static let v = Vectors.named("card1-purchase-3des", in: "purchase.json")
    static let select = Vectors.named("card1-cu-select", in: "profiles.json").bytes("select_resp")
    static let ok: [UInt8] = [0x90, 0x00]
    static let initOK = v.bytes("init_resp")
    static let debitOK = v.bytes("debit_resp")
    static let noCode: [UInt8] = [0x6A, 0x88]
    static let time = BCDDateTime(v.bytes("datetime"))!

    struct Run {
        var outcome: PurchaseOutcome
        var cardSent: [[UInt8]]
        var psamSent: [[UInt8]]
        var pendingBeforeDebit: Bool
    }

    /// Runs a 2.50 purchase; the PSAM answers 8070 and 8072 as in the vector.
    static func run(card answers: [[UInt8]], psam psamAnswers: [[UInt8]]? = nil,
                    amount: UInt32 = 250, pendingFails: Bool = false, time: BCDDateTime = time) -> Run {
        let card = ScriptedLink(answers)
        let psamLink = ScriptedLink(psamAnswers ?? [v.bytes("psam_8070_resp"), ok])
        let psam = PSAM(channel: APDUChannel(psamLink), terminalNumber: v.bytes("terminal_no"), purchaseKeyIndex: 1)
        var pendingBeforeDebit = false
        struct Full: Error {}
        let flow = PurchaseFlow(recordPending: { _ in
            pendingBeforeDebit = !card.sent.contains { $0.starts(with: [0x80, 0x54]) }
            if pendingFails { throw Full() }
        })
        let outcome = flow.run(card: APDUChannel(card), psam: psam, amount: amount, time: time)
        return Run(outcome: outcome, cardSent: card.sent, psamSent: psamLink.sent, pendingBeforeDebit: pendingBeforeDebit)
    }

    static func reason(_ run: Run) -> DeclineReason? {
        if case .declined(let decline) = run.outcome { return decline.reason }
        return nil
    }

    static func sentDebit(_ run: Run) -> Bool { run.cardSent.contains { $0.starts(with: [0x80, 0x54]) } }

    @Test func approvedPathSendsDebitAfterPending() {
        let run = Self.run(card: [Self.select, Self.noCode, Self.initOK, Self.debitOK])
        guard case .approved(let receipt) = run.outcome else { Issue.record("\(run.outcome)"); return }
        #expect(receipt.balanceAfter == 9750)
        #expect(run.pendingBeforeDebit)
    }

    @Test(arguments: [
        (0x9401, DeclineReason.insufficientBalance), (0x9402, .counterExhausted), (0x9403, .keyNotSupported),
        (0x6A81, .appBlocked), (0x6F00, .cardError), (0x6985, .cardError),
    ] as [(UInt16, DeclineReason)])
    func initializeRefusals(_ sw: UInt16, _ reason: DeclineReason) {
        let run = Self.run(card: [Self.select, Self.noCode, [UInt8(sw >> 8), UInt8(sw & 0xFF)]])
        #expect(Self.reason(run) == reason)
        #expect(run.psamSent.isEmpty, "no MAC1 is asked for a refused card")
        #expect(!Self.sentDebit(run))
    }

    @Test(arguments: [[0x6A, 0x81], Array(select.dropLast(2)) + [0x6A, 0x81], [0x93, 0x03]] as [[UInt8]])
    func blockedAtSelect(_ answer: [UInt8]) {
        let run = Self.run(card: [answer])
        #expect(Self.reason(run) == .appBlocked)
        #expect(run.cardSent.count == 1)
    }

    @Test func noPurseApplication() {
        let run = Self.run(card: [[0x6A, 0x82], [0x6A, 0x82]])
        #expect(Self.reason(run) == .notAPurseCard)
        #expect(run.cardSent.count == 2, "both AIDs tried")
    }

    @Test func dateAndEnabledChecks() {
        // EF 0x15 of test card 1 runs 2025-01-01 to 2035-12-31.
        #expect(Self.reason(Self.run(card: [Self.select], time: BCDDateTime(text: "20241231235959")!)) == .notYetValid)
        #expect(Self.reason(Self.run(card: [Self.select], time: BCDDateTime(text: "20360101000000")!)) == .expired)
        #expect(Self.reason(Self.run(card: [Self.select, Self.noCode, Self.initOK, Self.debitOK],
                                     time: BCDDateTime(text: "20351231235959")!)) == nil, "the expiry day itself is valid")
        var disabled = Self.select
        let offset = disabled.count - 2 - 30 + 8  // EF 0x15 byte 8 inside the FCI's 9F0C
        disabled[offset] = 0x00
        #expect(Self.reason(Self.run(card: [disabled])) == .notEnabled)
    }

    @Test func authenticationCodeAnswers() {
        for none in [[0x6A, 0x88], [0x6A, 0x86], [0x6D, 0x00]] as [[UInt8]] {
            let run = Self.run(card: [Self.select, none, Self.initOK, Self.debitOK])
            guard case .approved = run.outcome else { Issue.record("\(none.hex): \(run.outcome)"); continue }
            #expect(!run.psamSent.contains { $0.starts(with: [0x80, 0xCA]) })
        }
        #expect(Self.reason(Self.run(card: [Self.select, [0x69, 0x85]])) == .cardError)
        #expect(Self.reason(Self.run(card: [Self.select, [1, 2, 3, 0x90, 0x00]])) == .cardError, "a code is 9 bytes")
    }

    @Test func malformedAnswersAreTypedDeclines() {
        let cases: [[[UInt8]]] = [
            [Array(Self.initOK.dropFirst(3))],  // INITIALIZE too short
            [[0xFF] + Self.initOK],  // INITIALIZE too long
            [Array(Self.initOK.dropLast(2)) + [0x12, 0x34]],  // unknown SW with data
            [[0x90]],  // one byte: no answer
        ]
        for tail in cases {
            let run = Self.run(card: [Self.select, Self.noCode] + tail)
            #expect([DeclineReason.cardError, .cardRemoved].contains(Self.reason(run)), "\(tail)")
            #expect(!Self.sentDebit(run))
        }
        let garbledFCI = Self.run(card: [[0x6F, 0x20, 0x84, 0x90, 0x00]])
        #expect(Self.reason(garbledFCI) == .cardError)
        let wrongDFName = Self.run(card: [[0x6F, 0x05, 0x84, 0x03, 0xA0, 0x00, 0x01, 0x90, 0x00]])
        #expect(Self.reason(wrongDFName) == .cardError)
        let shortEF15 = Self.run(card: [[0x6F, 0x11, 0x84, 0x09] + PurseProfile.cu.aid + [0xA5, 0x04, 0x9F, 0x08, 0x01, 0x01, 0x90, 0x00],
                                        [0x01, 0x02, 0x90, 0x00]])
        #expect(Self.reason(shortEF15) == .cardError)
    }

    @Test func unsupportedAlgorithm() {
        var answer = Self.initOK
        answer[10] = 0x02
        let run = Self.run(card: [Self.select, Self.noCode, answer])
        #expect(Self.reason(run) == .unsupportedAlgorithm)
    }

    @Test func cardGoneBeforeDebitIsADeclineWithTheCardUntouched() {
        let run = Self.run(card: [Self.select, Self.noCode])  // the script ends: the link reports removal
        #expect(Self.reason(run) == .cardRemoved)
        #expect(!Self.sentDebit(run))
    }

    @Test func psamFailureDeclinesBeforeDebit() {
        let run = Self.run(card: [Self.select, Self.noCode, Self.initOK], psam: [[0x6A, 0x88]])
        #expect(Self.reason(run) == .psamError)
        #expect(!Self.sentDebit(run))
    }

    @Test func journalFailureDeclinesBeforeDebit() {
        let run = Self.run(card: [Self.select, Self.noCode, Self.initOK, Self.debitOK], pendingFails: true)
        #expect(Self.reason(run) == .journalUnavailable)
        #expect(!Self.sentDebit(run))
    }

    @Test func debitRejectedMAC1IsAFailedPending() {
        let run = Self.run(card: [Self.select, Self.noCode, Self.initOK, [0x93, 0x02]])
        guard case .declined(let decline) = run.outcome else { Issue.record("\(run.outcome)"); return }
        #expect(decline.reason == .mac1Rejected)
        #expect(decline.pending != nil, "the PENDING entry must be closed as FAILED")
    }

    @Test(arguments: [[], [0x90], [0x6F, 0x00], [1, 2, 3, 0x90, 0x00], Self.debitOK.dropLast(2) + [0x12, 0x34],
                      [0xAA] + Self.debitOK] as [[UInt8]])
    func debitWithoutAClearAnswerIsUncertain(_ answer: [UInt8]) {
        let run = Self.run(card: [Self.select, Self.noCode, Self.initOK, answer])
        guard case .uncertain(let pending, _) = run.outcome else { Issue.record("\(answer.hex): \(run.outcome)"); return }
        #expect(pending.terminalSequence == 0x101)
        #expect(run.cardSent.filter { $0.starts(with: [0x80, 0x54]) }.count == 1, "DEBIT is never re-sent")
    }

    @Test func debitLostAfterRemovalIsUncertain() {
        let run = Self.run(card: [Self.select, Self.noCode, Self.initOK])  // DEBIT meets a removed card
        #expect(Self.reason(run) == nil)
        guard case .uncertain = run.outcome else { Issue.record("\(run.outcome)"); return }
    }

    @Test func mac2NotConfirmedKeepsTheApprovalWithAnAlarm() {
        let run = Self.run(card: [Self.select, Self.noCode, Self.initOK, Self.debitOK],
                           psam: [Self.v.bytes("psam_8070_resp"), [0x93, 0x02]])
        guard case .approved(let receipt) = run.outcome else { Issue.record("\(run.outcome)"); return }
        #expect(!receipt.mac2Verified)
    }

    @Test func zeroAmountIsRefusedWithoutTouchingTheCard() {
        let run = Self.run(card: [], amount: 0)
        #expect(Self.reason(run) == .invalidAmount)
        #expect(run.cardSent.isEmpty)
    }
}
