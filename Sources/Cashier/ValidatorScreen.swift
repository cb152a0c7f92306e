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

    public func result(_ outcome: PurchaseOutcome) -> [String] {
        switch outcome {
        case .approved(let receipt) where receipt.debit.amount == 0:
            fit(["CHECKED IN", "BAL " + CashierFlow.money(receipt.balanceAfter)])
        case .approved(let receipt), .recovered(let receipt):
            fit(["FARE " + CashierFlow.money(receipt.debit.amount), "BAL " + CashierFlow.money(receipt.balanceAfter)])
        case .uncertain:
            tapAgain
        case .declined(let decline):
            fit(["REFUSED", decline.reason.text.uppercased()])
        case .blocked:
            fit(["REFUSED", "CARD BLOCKED"])
        }
    }

    func fit(_ lines: [String]) -> [String] {
        (0..<height).map { row in String((row < lines.count ? lines[row] : "").prefix(width)) }
    }
}
