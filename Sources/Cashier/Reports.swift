#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hex
import Purse

/// What `posd purchase` and `posd load` print: the same fields as text or as
/// JSON. Neither carries raw card answers (a malformed DEBIT answer's first
/// bytes look like a TAC): `detail` is for the log only.
public struct PurchaseReport: Encodable {
    public var result: String
    public var reason: String?
    /// Why, in the terminal's words and the card's bytes: logged, never printed on the result line.
    public var detail: String?
    public var amount: UInt32
    public var balanceAfter: Int64?
    public var cardNo: String?
    public var cardCounter: UInt16?
    public var terminalSeq: UInt32?
    public var tac: String?
    public var mac2Verified: Bool?
    /// True when the proof came from the card after a torn transaction (§9.3).
    public var recovered: Bool?
    var mac2Alarm = false

    enum CodingKeys: String, CodingKey {
        case result, reason, amount, tac, recovered
        case balanceAfter = "balance_after", cardNo = "card_no", cardCounter = "card_counter"
        case terminalSeq = "terminal_seq", mac2Verified = "mac2_verified"
    }

    public var exitCode: Int32 = 0

    public init(_ outcome: PurchaseOutcome, amount: UInt32) {
        self.amount = amount
        result = ""
        switch outcome {
        case .approved(let receipt):
            result = "approved"
            self.amount = receipt.debit.amount
            balanceAfter = receipt.balanceAfter
            tac = receipt.tac.hex
            mac2Verified = receipt.recovered ? nil : receipt.mac2Verified
            mac2Alarm = receipt.mac2Alarm
            recovered = receipt.recovered ? true : nil
            fill(from: receipt.debit)
            exitCode = 0
        case .declined(let decline):
            result = "declined"
            reason = decline.reason.rawValue
            detail = decline.detail
            cardNo = decline.cardNumber?.description
            if let pending = decline.pending { fill(from: pending) }
            exitCode = 1
        case .uncertain(let pending, let why):
            result = "uncertain"
            detail = why
            fill(from: pending)
            exitCode = 2
        case .recovered(let receipt):
            // An earlier torn sale completed from the card's proof; nothing new was debited.
            result = "recovered"
            self.amount = receipt.debit.amount
            balanceAfter = receipt.balanceAfter
            tac = receipt.tac.hex
            recovered = true
            fill(from: receipt.debit)
            exitCode = 4
        case .blocked(let block):
            result = "declined"
            reason = DeclineReason.hotListed.rawValue
            detail = block.reason + { if case .failed(let why) = block.result { ": \(why)" } else { "" } }()
            cardNo = block.cardNumber.description
            exitCode = 1
        }
    }

    private mutating func fill(from debit: PendingDebit) {
        cardNo = debit.cardNumber.description
        cardCounter = debit.counter
        terminalSeq = debit.isLoad ? nil : debit.terminalSequence
    }

    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    public var text: String {
        switch result {
        case "approved":
            "APPROVED  \(Money(amount))  card \(cardNo ?? "")  balance \(Money(balanceAfter ?? 0))"
                + (terminalSeq.map { "  T \($0)" } ?? "  online counter \(cardCounter ?? 0)") + "  TAC \(tac ?? "")"
                + (recovered == true ? "  (completed from the card's proof)" : "")
                + (mac2Alarm ? "  (ALARM: PSAM did not confirm MAC2)" : "")
        case "recovered":
            "PAID EARLIER  an earlier torn transaction of \(Money(amount)) on card \(cardNo ?? "") was completed (TAC \(tac ?? "")); "
                + "this one was not charged"
        case "declined":
            "DECLINED  \(DeclineReason(rawValue: reason ?? "")?.text ?? reason ?? "")  [\(reason ?? "")]"
        default:
            "UNCERTAIN  card \(cardNo ?? "") may have been debited \(Money(amount)): do not charge again; present the card again to settle"
        }
    }
}

public enum BalanceText {
    public static func text(_ report: BalanceReport) -> String {
        var lines = ["card \(report.cardNumber) (\(report.profile.rawValue))  balance \(Money(report.balance))"]
        for entry in report.history {
            lines.append("  \(entry.time.hex)  \(entry.isLoad ? "+" : "-")\(Money(entry.amount))  type \([entry.transactionType].hex)  terminal \(entry.terminalNumber.hex)")
        }
        return lines.joined(separator: "\n")
    }

    public static func json(_ report: BalanceReport) -> String {
        struct Line: Encodable { var time: String; var amount: Int64; var tx_type: UInt8; var terminal: String; var counter: UInt16 }
        struct Body: Encodable { var card_no: String; var profile: String; var balance: UInt32; var history: [Line] }
        let body = Body(card_no: report.cardNumber.description, profile: report.profile.rawValue, balance: report.balance,
                        history: report.history.map {
                            Line(time: $0.time.hex, amount: $0.isLoad ? Int64($0.amount) : -Int64($0.amount),
                                 tx_type: $0.transactionType, terminal: $0.terminalNumber.hex, counter: $0.counter)
                        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(body), as: UTF8.self)
    }
}
