import Foundation
import Hex
import Purse

/// What `posd purchase` and `posd load` print: the same fields as text or as JSON.
struct PurchaseReport: Encodable {
    var result: String
    var reason: String?
    var detail: String?
    var amount: UInt32
    var balanceAfter: UInt32?
    var cardNo: String?
    var cardCounter: UInt16?
    var terminalSeq: UInt32?
    var tac: String?
    var mac2Verified: Bool?

    enum CodingKeys: String, CodingKey {
        case result, reason, detail, amount, tac
        case balanceAfter = "balance_after", cardNo = "card_no", cardCounter = "card_counter"
        case terminalSeq = "terminal_seq", mac2Verified = "mac2_verified"
    }

    var exitCode: Int32 = 0

    init(_ outcome: PurchaseOutcome, amount: UInt32) {
        self.amount = amount
        result = ""
        switch outcome {
        case .approved(let receipt):
            result = "approved"
            self.amount = receipt.debit.amount
            balanceAfter = receipt.balanceAfter
            tac = receipt.tac.hex
            mac2Verified = receipt.mac2Verified
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

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    var text: String {
        switch result {
        case "approved":
            "APPROVED  \(Money(amount))  card \(cardNo ?? "")  balance \(Money(balanceAfter ?? 0))"
                + (terminalSeq.map { "  T \($0)" } ?? "  online counter \(cardCounter ?? 0)") + "  TAC \(tac ?? "")"
                + (mac2Verified == false ? "  (ALARM: PSAM did not confirm MAC2)" : "")
        case "recovered":
            "RECOVERED  earlier transaction of \(Money(amount)) on card \(cardNo ?? "") completed (TAC \(tac ?? "")); nothing new charged"
        case "declined":
            "DECLINED  \(DeclineReason(rawValue: reason ?? "")?.text ?? reason ?? "")  [\(reason ?? "")] \(detail ?? "")"
        default:
            "UNCERTAIN  card \(cardNo ?? "") may have been debited \(Money(amount)): present it again (\(detail ?? ""))"
        }
    }
}

enum BalanceText {
    static func text(_ report: BalanceReport) -> String {
        var lines = ["card \(report.cardNumber) (\(report.profile.rawValue))  balance \(Money(report.balance))"]
        for entry in report.history {
            lines.append("  \(entry.time.hex)  \(entry.isLoad ? "+" : "-")\(Money(entry.amount))  type \([entry.transactionType].hex)  terminal \(entry.terminalNumber.hex)")
        }
        return lines.joined(separator: "\n")
    }

    static func json(_ report: BalanceReport) -> String {
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

/// Fen as yuan with two decimals.
struct Money: CustomStringConvertible {
    let fen: UInt32
    init(_ fen: UInt32) { self.fen = fen }
    var description: String { "\(fen / 100).\(fen % 100 < 10 ? "0" : "")\(fen % 100)" }
}
