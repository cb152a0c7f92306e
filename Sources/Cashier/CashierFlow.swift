import Hex
import Purse

/// The cashier's screens and keys, as a pure state machine: keys in, a screen
/// and at most one action out. The runtime feeds it keypad events and card
/// results and carries out its actions; nothing here touches a line or a card.
public struct CashierFlow: Equatable, Sendable {
    public enum State: Equatable, Sendable {
        case idle
        /// Amount typed so far, in fen.
        case entering(UInt32)
        /// Waiting for the card; the runtime is running the purchase.
        case presentCard(UInt32)
        /// Waiting for the card for a balance query.
        case balanceCard
        /// A result on screen until the next key.
        case result([String])
        /// A card's balance and history; ENTER scrolls the history, any other key ends.
        case history(BalanceReport, first: Int)
    }

    public enum Action: Equatable, Sendable {
        case purchase(amount: UInt32)
        case balance
    }

    public private(set) var state = State.idle
    /// The per-purchase limit (`max_purchase`), in fen.
    public var maxPurchase: UInt32
    public let width: Int
    public let height: Int
    /// Shown on the idle screen instead of "READY" while sales are refused
    /// (journal fault, offline limit).
    public var refusal: String?

    public init(maxPurchase: UInt32, width: Int = 16, height: Int = 2) {
        self.maxPurchase = maxPurchase
        self.width = width
        self.height = height
    }

    /// A key from the keypad: digits, "00", BACK, CANCEL, ENTER, BALANCE.
    public mutating func press(_ key: String) -> Action? {
        switch (state, key) {
        case (.presentCard, _), (.balanceCard, _):
            return nil  // the runtime owns these screens until the card answers
        case (.history(let report, let first), "ENTER") where first + historyRows < report.history.count:
            state = .history(report, first: first + historyRows)
            return nil
        case (.result, _), (.history, _):
            state = .idle
            return nil
        case (_, "CANCEL"):
            state = .idle
        case (.idle, "BALANCE"):
            state = .balanceCard
            return .balance
        case (.idle, _) where refusal != nil:
            return nil
        case (.idle, _):
            state = .entering(0)
            return press(key)
        case (.entering(let amount), "BACK"):
            state = .entering(amount / 10)
        case (.entering(let amount), "ENTER"):
            guard amount > 0 else { return nil }
            guard amount <= maxPurchase else {
                state = .result(["OVER LIMIT", "MAX \(Self.money(maxPurchase))"])
                return nil
            }
            state = .presentCard(amount)
            return .purchase(amount: amount)
        case (.entering(let amount), _):
            let digits = key == "00" ? [0, 0] : key.count == 1 ? key.compactMap { $0.wholeNumberValue } : []
            var next = UInt64(amount)
            for digit in digits { next = next * 10 + UInt64(digit) }
            if next <= 9_999_999 { state = .entering(UInt32(next)) }
        }
        return nil
    }

    /// Shown while the card of the last sale is still in the field: the next
    /// sale starts only once it has left (one sale, one presentation).
    public var liftCardScreen: [String] {
        fit(["LIFT LAST CARD", state.pendingAmount.map { "AGAIN FOR " + Self.money($0) } ?? "THEN PRESENT"])
    }

    /// Nothing was tried: the last sale's card never left the field.
    public mutating func previousCardNeverLifted() {
        state = .result(["NO SALE", "LIFT LAST CARD"])
    }

    /// The card answered (or never came).
    public mutating func finished(_ outcome: PurchaseOutcome) {
        switch outcome {
        case .approved(let receipt):
            state = .result(["APPROVED " + Self.money(receipt.debit.amount), "BALANCE " + Self.money(receipt.balanceAfter)])
        case .recovered(let receipt):
            // An earlier torn sale of this card turned out paid; the sale keyed now was not charged.
            state = .result(["PAID EARLIER", "NOT CHARGED NOW", "EARLIER " + Self.money(receipt.debit.amount),
                             "BALANCE " + Self.money(receipt.balanceAfter)])
        case .uncertain:
            // The card may have been debited: the cashier must not charge again.
            state = .result(["NOT CONFIRMED", "CARD MAY BE PAID", "PRESENT CARD", "AGAIN TO SETTLE"])
        case .declined(let decline):
            state = .result(["DECLINED", decline.reason.text.uppercased()])
        case .blocked:
            state = .result(["DECLINED", "CARD BLOCKED"])
        }
    }

    public mutating func finished(_ balance: Result<BalanceReport, Decline>) {
        switch balance {
        case .success(let report):
            state = .history(report, first: 0)
        case .failure(let decline):
            state = .result(["CARD ERROR", decline.reason.text.uppercased()])
        }
    }

    /// The screen, each line cut to the display's width.
    public var screen: [String] {
        let lines: [String]
        switch state {
        case .idle: lines = refusal.map { ["NO SALES", $0] } ?? ["READY", "ENTER AMOUNT"]
        case .entering(let amount): lines = ["AMOUNT", Self.money(amount)]
        case .presentCard(let amount): lines = ["PRESENT CARD", Self.money(amount)]
        case .balanceCard: lines = ["PRESENT CARD", "FOR BALANCE"]
        case .result(let text): lines = text
        case .history(let report, let first):
            // The balance, then as many history lines as fit: "3 -2.50 11-22"
            // (number, amount, month-day); ENTER shows the next ones.
            let entries = report.history.enumerated().dropFirst(first).prefix(historyRows).map { n, entry in
                let sign = entry.isLoad ? "+" : "-"
                let date = entry.time.count >= 4 ? [entry.time[2]].hex + "-" + [entry.time[3]].hex : ""
                return "\(n + 1) \(sign)\(Self.money(entry.amount)) \(date)"
            }
            lines = ["BALANCE " + Self.money(report.balance)] + (entries.isEmpty ? ["NO HISTORY"] : entries)
        }
        return fit(lines)
    }

    func fit(_ lines: [String]) -> [String] {
        (0..<height).map { row in String((row < lines.count ? lines[row] : "").prefix(width)) }
    }

    /// History lines per screen: every row under the balance.
    var historyRows: Int { max(1, height - 1) }

    /// Fen as yuan: 1250 → "12.50".
    public static func money(_ fen: UInt32) -> String { Money(fen).description }
    public static func money(_ fen: Int64) -> String { Money(fen).description }
}

extension CashierFlow.State {
    /// The amount of the sale waiting for its card, if one is.
    var pendingAmount: UInt32? {
        if case .presentCard(let amount) = self { amount } else { nil }
    }
}
