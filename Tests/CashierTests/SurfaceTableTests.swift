import Cashier
// FoundationEssentials: with Foundation itself, Testing's Foundation overlay is
// linked, and Debian's Swift (the aarch64 build of these suites) ships none.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@testable import Purse
import Testing

/// Every outcome on every surface: the command line's text and JSON, the
/// cashier's screen, the validator's screen, and the LEDs and buzzer. Each row
/// pins what each surface says, so that none can say a sale was not charged
/// while the card was debited, or the reverse.
@Suite struct SurfaceTableTests {
    static let card = CardNumber(hex: "8888000000000001")!
    static let debit = PendingDebit(
        cardNumber: card, profile: .cu, transactionType: 0x06, amount: 200, balanceBefore: 5000, counter: 7, keyVersion: 1,
        algorithmID: 0, cardRandom: [1, 2, 3, 4], terminalSequence: 12, time: BCDDateTime(text: "20261201120000")!,
        terminalNumber: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
    static let fresh = PurchaseReceipt(debit: debit, tac: [0xAA, 0xBB, 0xCC, 0xDD], mac2: [1, 1, 1, 1], mac2Verified: true)
    static let proved = PurchaseReceipt(debit: debit, tac: [0xAA, 0xBB, 0xCC, 0xDD], mac2: [1, 1, 1, 1], mac2Verified: false, recovered: true)

    struct Row: CustomStringConvertible, Sendable {
        var name: String
        var outcome: PurchaseOutcome
        /// What must be on the CLI's text line, and what it must never say.
        var text: String
        var json: String
        var exit: Int32
        var cashier: [String]
        var validator: [String]
        var signal: OutcomeSignal
        var description: String { name }
    }

    static let rows: [Row] = [
        Row(name: "approved", outcome: .approved(fresh), text: "APPROVED  2.00  card 8888000000000001  balance 48.00",
            json: #""balance_after":4800"#, exit: 0,
            cashier: ["APPROVED 2.00", "BALANCE 48.00"], validator: ["FARE 2.00", "BAL 48.00"], signal: .paid),
        Row(name: "this sale recovered from the card's proof", outcome: .approved(proved),
            text: "APPROVED  2.00  card 8888000000000001  balance 48.00", json: #""recovered":true,"result":"approved""#, exit: 0,
            cashier: ["APPROVED 2.00", "BALANCE 48.00"], validator: ["FARE 2.00", "BAL 48.00"], signal: .paid),
        Row(name: "an earlier sale recovered instead", outcome: .recovered(proved),
            text: "PAID EARLIER  an earlier torn transaction of 2.00", json: #""result":"recovered""#, exit: 4,
            cashier: ["PAID EARLIER", "NOT CHARGED NOW"], validator: ["EARLIER TAP PAID", "TAP AGAIN"], signal: .notPaid),
        Row(name: "proven not committed (load)", outcome: .declined(Decline(.notCommitted, "the load did not reach the card", cardNumber: card)),
            text: "DECLINED  did not complete: nothing changed", json: #""reason":"not_committed""#, exit: 1,
            cashier: ["DECLINED", "DID NOT COMPLETE"], validator: ["REFUSED", "DID NOT COMPLETE"], signal: .notPaid),
        Row(name: "unresolved", outcome: .declined(Decline(.recoveryUnresolved, "prove 9406, balance 4800", cardNumber: card)),
            text: "DECLINED  earlier sale unresolved: call support", json: #""reason":"recovery_unresolved""#, exit: 1,
            cashier: ["DECLINED", "EARLIER SALE UNR"], validator: ["REFUSED", "EARLIER SALE UNR"], signal: .notPaid),
        Row(name: "uncertain", outcome: .uncertain(debit, detail: "DEBIT answered AABBCCDD9000"),
            text: "UNCERTAIN  card 8888000000000001 may have been debited 2.00: do not charge again", json: #""result":"uncertain""#,
            exit: 2, cashier: ["NOT CONFIRMED", "CARD MAY BE PAID"], validator: ["NOT CONFIRMED", "SEE DRIVER"], signal: .notPaid),
        Row(name: "blocked", outcome: .blocked(CardBlock(cardNumber: card, balance: 5000, result: .temporary)),
            text: "DECLINED  card blocked  [hot_listed]", json: #""reason":"hot_listed""#, exit: 1,
            cashier: ["DECLINED", "CARD BLOCKED"], validator: ["REFUSED", "CARD BLOCKED"], signal: .notPaid),
    ] + DeclineReason.allCases.filter { ![.notCommitted, .recoveryUnresolved].contains($0) }.map { reason in
        Row(name: "declined \(reason.rawValue)", outcome: .declined(Decline(reason, "detail", cardNumber: card)),
            text: "DECLINED  \(reason.text)  [\(reason.rawValue)]", json: #""reason":"\#(reason.rawValue)""#, exit: 1,
            cashier: ["DECLINED", String(reason.text.uppercased().prefix(16))],
            validator: ["REFUSED", String(reason.text.uppercased().prefix(16))], signal: .notPaid)
    }

    @Test(arguments: rows)
    func everySurfaceSaysTheSame(_ row: Row) {
        let report = PurchaseReport(row.outcome, amount: 200)
        #expect(report.text.hasPrefix(row.text), "\(row): \(report.text)")
        #expect(report.json.contains(row.json), "\(row): \(report.json)")
        #expect(report.exitCode == row.exit, "\(row)")
        for raw in ["AABBCCDD9000", "9406", "detail"] {
            #expect(!report.text.contains(raw) && !report.json.contains(raw), "\(row): raw answers stay in the log")
        }

        var cashier = CashierFlow(maxPurchase: 50_000)
        for key in ["2", "0", "0"] { _ = cashier.press(key) }
        #expect(cashier.press("ENTER") == .purchase(amount: 200))
        cashier.finished(row.outcome)
        #expect(cashier.screen == row.cashier, "\(row)")

        #expect(ValidatorScreen().result(row.outcome) == row.validator, "\(row)")
        #expect(OutcomeSignal(row.outcome) == row.signal, "\(row)")
    }

    /// The two facts that matter most, stated as such: after recovery of a
    /// committed debit no surface says "not charged" about the money that moved,
    /// and only an approval of this sale lights green.
    @Test func noSurfaceCallsMovedMoneyUncharged() {
        var cashier = CashierFlow(maxPurchase: 50_000)
        for key in ["2", "0", "0"] { _ = cashier.press(key) }
        _ = cashier.press("ENTER")
        cashier.finished(.approved(Self.proved))
        #expect(!cashier.screen.joined(separator: " ").contains("NOT CHARGED"))
        var tall = CashierFlow(maxPurchase: 50_000, width: 20, height: 4)
        for key in ["2", "0", "0"] { _ = tall.press(key) }
        _ = tall.press("ENTER")
        tall.finished(.recovered(Self.proved))
        #expect(tall.screen == ["PAID EARLIER", "NOT CHARGED NOW", "EARLIER 2.00", "BALANCE 48.00"],
                "the earlier sale's money is shown as paid; the sale keyed now as not charged")
    }

    @Test func moneyFormatsNegativeAndLargeAmounts() {
        #expect(Money(Int64(-30)).description == "-0.30")
        #expect(Money(UInt32.max).description == "42949672.95")
        #expect(Money(Int64(5)).description == "0.05")
    }
}
