import Purse

/// What the bus validator's display says: the fare and the balance after a
/// tap, or why it was refused; each line cut to the display's width.
public struct ValidatorScreen: Equatable, Sendable {
    public var width: Int
    public var height: Int

    public init(width: Int = 16, height: Int = 2) {
        self.width = width
        self.height = height
    }

    /// Waiting for a tap.
    public func idle(line: UInt16, stop: String?) -> [String] {
        fit(["TAP CARD", "LINE \(line)" + (stop.map { " " + $0.uppercased() } ?? "")])
    }

    /// A torn tap: the same card must come back.
    public var tapAgain: [String] { fit(["TAP CARD", "AGAIN"]) }

    /// The screen after a tap; every outcome says what happened to the money.
    public func result(_ outcome: PurchaseOutcome) -> [String] {
        switch outcome {
        case .approved(let receipt) where receipt.debit.amount == 0:
            fit(["CHECKED IN", "BAL " + CashierFlow.money(receipt.balanceAfter)])
        case .approved(let receipt):
            fit(["FARE " + CashierFlow.money(receipt.debit.amount), "BAL " + CashierFlow.money(receipt.balanceAfter)])
        case .recovered(let receipt):
            // An earlier torn tap was paid; this tap was not made.
            fit(["EARLIER TAP PAID", "TAP AGAIN", "FARE " + CashierFlow.money(receipt.debit.amount),
                 "BAL " + CashierFlow.money(receipt.balanceAfter)])
        case .uncertain:
            fit(["NOT CONFIRMED", "SEE DRIVER"])
        case .declined(let decline):
            fit(["REFUSED", decline.reason.text.uppercased()])
        case .blocked:
            fit(["REFUSED", "CARD BLOCKED"])
        }
    }

    public func fit(_ lines: [String]) -> [String] {
        (0..<height).map { row in String((row < lines.count ? lines[row] : "").prefix(width)) }
    }
}

/// What the LEDs and buzzer say: green and a short beep only when the money
/// for *this* transaction moved; red and a long beep for everything else
/// (a refusal, an earlier sale completed instead, an unconfirmed debit).
public enum OutcomeSignal: Equatable, Sendable {
    case paid, notPaid

    public init(_ outcome: PurchaseOutcome) {
        self = if case .approved = outcome { .paid } else { .notPaid }
    }
}
