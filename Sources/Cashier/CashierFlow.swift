import Hex
import Purse

/// The cashier's screens and keys, as a pure state machine: keys in, a screen
/// and at most one action out. The runtime feeds it keypad events and card
/// results and carries out its actions; nothing here touches a line or a card.
public struct CashierFlow: Equatable, Sendable {
    public enum State: Equatable, Sendable {
        case idle
        /// The amount typed so far.
        case entering(AmountEntry)
        /// Waiting for the card; the runtime is running the purchase.
        case presentCard(UInt32)
        /// Waiting for the card for a balance query.
        case balanceCard
        /// A result on screen until the next key.
        case result([String])
        /// A card's balance and history; ENTER scrolls the history, any other key ends.
        case history(BalanceReport, first: Int)
        /// The merchant's menu (MENU key): a digit picks an item.
        case menu
        /// A menu report, paged: ENTER the next page (the menu after the
        /// last), BACK or MENU the menu, CANCEL the idle screen.
        case report(MenuReport, first: Int)
        /// The supervisor's PIN for settling, digits typed so far (shown as `*`).
        case supervisorPIN(String)
        /// The runtime is at work (settling): keys wait.
        case busy([String])
    }

    public enum Action: Equatable, Sendable {
        case purchase(amount: UInt32)
        case balance
        /// Show a menu report: the runtime gathers it and calls `show(_:)`.
        case report(MenuItem)
        /// Settle now, if `pin` is the supervisor's: the runtime checks it,
        /// settles and calls `show(_:)` with the outcome.
        case settle(pin: String)
    }

    public enum MenuItem: String, Equatable, Sendable, CaseIterable {
        case dayTotals, lastSales, terminalInfo
    }

    public private(set) var state = State.idle
    /// The per-purchase limit (`max_purchase`), in fen.
    public var maxPurchase: UInt32
    public let width: Int
    public let height: Int
    /// Shown on the idle screen instead of "READY" while sales are refused
    /// (journal fault, offline limit).
    public var refusal: String?
    /// Shown under "READY" while something needs the owner's eye but sales
    /// go on (a scheduled settlement that has not balanced yet).
    public var notice: String?
    /// Settling from the keypad needs a supervisor PIN provisioned with the terminal.
    public var supervisorPINProvisioned = false

    public init(maxPurchase: UInt32, width: Int = 16, height: Int = 2) {
        self.maxPurchase = maxPurchase
        self.width = width
        self.height = height
    }

    /// Longest supervisor PIN accepted from the keypad.
    static let maxPINLength = 12

    /// A key from the keypad: digits, "00", ".", BACK, CANCEL, ENTER, BALANCE, MENU.
    public mutating func press(_ key: String) -> Action? {
        switch (state, key) {
        case (.presentCard, _), (.balanceCard, _), (.busy, _):
            return nil  // the runtime owns these screens until the card (or the platform) answers
        case (.history(let report, let first), "ENTER") where first + historyRows < report.history.count:
            state = .history(report, first: first + historyRows)
            return nil
        case (.result, _), (.history, _):
            state = .idle
            return nil
        case (.report(let report, let first), "ENTER"):
            state = first + report.entriesPerPage(height: height) < report.entries.count
                ? .report(report, first: first + report.entriesPerPage(height: height)) : .menu
        case (.report, "BACK"), (.report, "MENU"), (.supervisorPIN, "MENU"):
            state = .menu
        case (.menu, "MENU"), (_, "CANCEL"):
            state = .idle
        case (_, "MENU"):
            state = .menu  // an amount being keyed is dropped, as with CANCEL
        case (.menu, "1"):
            return .report(.dayTotals)
        case (.menu, "2"):
            return .report(.lastSales)
        case (.menu, "3"):
            guard supervisorPINProvisioned else {
                state = .report(MenuReport(title: "SETTLE", entries: [["NO SUPERVISOR", "PIN SET UP"]]), first: 0)
                return nil
            }
            state = .supervisorPIN("")
        case (.menu, "4"):
            return .report(.terminalInfo)
        case (.menu, _), (.report, _):
            return nil
        case (.supervisorPIN(let pin), "BACK"):
            state = .supervisorPIN(String(pin.dropLast()))
        case (.supervisorPIN(let pin), "ENTER"):
            guard !pin.isEmpty else { return nil }
            state = .busy(["SETTLING", "PLEASE WAIT"])
            return .settle(pin: pin)
        case (.supervisorPIN(let pin), _):
            let digits = key.filter(\.isNumber)
            if digits.count == key.count, pin.count + digits.count <= Self.maxPINLength { state = .supervisorPIN(pin + digits) }
        case (.idle, "BALANCE"):
            state = .balanceCard
            return .balance
        case (.idle, _) where refusal != nil:
            return nil
        case (.idle, _):
            state = .entering(AmountEntry())
            return press(key)
        case (.entering(let entry), "ENTER"):
            let amount = entry.fen
            guard amount > 0 else { return nil }
            guard amount <= maxPurchase else {
                state = .result(["OVER LIMIT", "MAX \(Self.money(maxPurchase))"])
                return nil
            }
            state = .presentCard(amount)
            return .purchase(amount: amount)
        case (.entering(var entry), _):
            entry.press(key)
            state = .entering(entry)
        }
        return nil
    }

    /// A menu report the runtime gathered, or the outcome of settling.
    public mutating func show(_ report: MenuReport) {
        state = .report(report, first: 0)
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
        case .idle: lines = refusal.map { ["NO SALES", $0] } ?? ["READY", notice ?? "ENTER AMOUNT"]
        case .entering(let entry): lines = ["AMOUNT", entry.shown]
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
        case .menu:
            lines = (height >= 4 ? ["MENU"] : []) + ["1 TOTALS 2 SALES", "3 SETTLE 4 INFO"] + (height >= 4 ? ["CANCEL TO LEAVE"] : [])
        case .report(let report, let first):
            lines = report.page(from: first, height: height)
        case .supervisorPIN(let pin):
            lines = ["SUPERVISOR PIN", String(repeating: "*", count: pin.count)]
        case .busy(let text):
            lines = text
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

/// An amount being keyed. Digits shift in from the right as fen, the way a
/// cash register keys them ("1 2 5 0" is 12.50, "00" two zeros at once); a
/// decimal key, on boards that have one, says the digits so far were yuan and
/// the next one or two are fen ("1 2 . 5" is 12.50). BACK undoes the last key.
public struct AmountEntry: Equatable, Sendable {
    /// Digits keyed before the decimal key (or all of them, without one).
    var whole = ""
    /// Digits keyed after the decimal key; nil until it is pressed.
    var fraction: String?

    public init() {}

    /// Most yuan an amount can have: 99 999.99 is the largest.
    static let maxWholeDigits = 5

    mutating func press(_ key: String) {
        switch key {
        case "BACK":
            if let fraction { self.fraction = fraction.isEmpty ? nil : String(fraction.dropLast()) } else { whole = String(whole.dropLast()) }
        case ".":
            if fraction == nil, whole.count <= Self.maxWholeDigits { fraction = "" }
        default:
            guard !key.isEmpty, key.allSatisfy(\.isNumber) else { return }
            if let fraction {
                if fraction.count + key.count <= 2 { self.fraction = fraction + key }
            } else if UInt64(whole + key).map({ $0 <= 9_999_999 }) ?? false {
                whole = String((whole + key).drop { $0 == "0" })
            }
        }
    }

    /// The amount in fen.
    public var fen: UInt32 {
        let digits = UInt32(whole) ?? 0
        guard let fraction else { return digits }
        return digits * 100 + (UInt32((fraction + "00").prefix(2)) ?? 0)
    }

    /// What the display shows: the amount, or after the decimal key exactly
    /// what was keyed ("12." then "12.5"), so the cashier sees the key land.
    var shown: String {
        guard let fraction else { return CashierFlow.money(fen) }
        return "\(UInt32(whole) ?? 0).\(fraction)"
    }
}

/// A report the menu shows: entries of one or more lines, as many per page
/// as the display holds, under a title on displays of four rows or more.
public struct MenuReport: Equatable, Sendable {
    public var title: String
    public var entries: [[String]]

    public init(title: String, entries: [[String]]) {
        self.title = title
        self.entries = entries.isEmpty ? [["NOTHING YET"]] : entries
    }

    func titleRows(height: Int) -> Int { height >= 4 ? 1 : 0 }

    func entriesPerPage(height: Int) -> Int {
        let tallest = max(1, entries.map(\.count).max() ?? 1)
        return max(1, (height - titleRows(height: height)) / tallest)
    }

    func page(from first: Int, height: Int) -> [String] {
        (titleRows(height: height) > 0 ? [title] : []) + entries.dropFirst(first).prefix(entriesPerPage(height: height)).flatMap { $0 }
    }
}

extension CashierFlow.State {
    /// The amount of the sale waiting for its card, if one is.
    var pendingAmount: UInt32? {
        if case .presentCard(let amount) = self { amount } else { nil }
    }
}
