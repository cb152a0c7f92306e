import Cashier
@testable import Purse
import Testing

@Suite struct CashierFlowTests {
    @Test func amountEntryWithBackspaceAndCancel() {
        var flow = CashierFlow(maxPurchase: 50_000)
        #expect(flow.screen == ["READY", "ENTER AMOUNT"])
        for key in ["1", "2", "5", "00"] { #expect(flow.press(key) == nil) }
        #expect(flow.screen == ["AMOUNT", "125.00"])
        _ = flow.press("BACK")
        #expect(flow.screen == ["AMOUNT", "12.50"])
        _ = flow.press("CANCEL")
        #expect(flow.state == .idle)
    }

    @Test func enterStartsThePurchaseAndTheResultIsShown() {
        var flow = CashierFlow(maxPurchase: 50_000)
        for key in ["2", "5", "0"] { _ = flow.press(key) }
        #expect(flow.press("ENTER") == .purchase(amount: 250))
        #expect(flow.screen == ["PRESENT CARD", "2.50"])
        #expect(flow.press("5") == nil, "keys wait while the card is asked for")
        flow.finished(.declined(Decline(.insufficientBalance, "9401")))
        #expect(flow.screen == ["DECLINED", "INSUFFICIENT BAL"], "cut to the 16-column display")
        _ = flow.press("1")
        #expect(flow.state == .idle)
    }

    @Test func perPurchaseLimit() {
        var flow = CashierFlow(maxPurchase: 1000)
        for key in ["1", "0", "0", "1"] { _ = flow.press(key) }
        #expect(flow.press("ENTER") == nil)
        #expect(flow.screen == ["OVER LIMIT", "MAX 10.00"])
    }

    /// The balance and the last ten, scrolled with ENTER on a two-line display.
    @Test func balanceAndHistoryScroll() {
        var flow = CashierFlow(maxPurchase: 1000)
        #expect(flow.press("BALANCE") == .balance)
        let history = (1...3).map { (n: Int) -> HistoryEntry in
            let type: UInt8 = n == 2 ? 0x02 : 0x06
            let head: [UInt8] = [0, UInt8(n), 0, 0, 0, 0, 0, 0, UInt8(n * 50), type]
            let tail: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x20, 0x26, 0x11, UInt8(0x20 + n), 0x08, 0x00, 0x00]
            return HistoryEntry(head + tail)
        }
        flow.finished(.success(BalanceReport(cardNumber: CardNumber(hex: "8888000000000001")!, profile: .cu, balance: 9750, history: history)))
        #expect(flow.screen == ["BALANCE 97.50", "1 -0.50 11-21"])
        #expect(flow.press("ENTER") == nil)
        #expect(flow.screen == ["BALANCE 97.50", "2 +1.00 11-22"])
        _ = flow.press("ENTER")
        #expect(flow.screen == ["BALANCE 97.50", "3 -1.50 11-23"])
        _ = flow.press("ENTER")
        #expect(flow.state == .idle, "past the last entry the screen closes")

        var tall = CashierFlow(maxPurchase: 1000, width: 20, height: 4)
        _ = tall.press("BALANCE")
        tall.finished(.success(BalanceReport(cardNumber: CardNumber(hex: "8888000000000001")!, profile: .cu, balance: 0, history: [])))
        #expect(tall.screen == ["BALANCE 0.00", "NO HISTORY", "", ""])
    }

    @Test func refusedSalesShowWhyAndTakeNoAmount() {
        var flow = CashierFlow(maxPurchase: 1000, width: 20, height: 4)
        flow.refusal = "JOURNAL FAULT"
        #expect(flow.screen == ["NO SALES", "JOURNAL FAULT", "", ""])
        #expect(flow.press("5") == nil)
        #expect(flow.state == .idle)
        #expect(flow.press("BALANCE") == .balance, "balance queries still work")
    }
}

@Suite struct ValidatorScreenTests {
    static let card = CardNumber(hex: "8888000000000001")!

    static func receipt(amount: UInt32, before: UInt32) -> PurchaseReceipt {
        PurchaseReceipt(debit: PendingDebit(cardNumber: card, profile: .cu, transactionType: 9, amount: amount, balanceBefore: before,
                                            counter: 1, keyVersion: 1, algorithmID: 0, cardRandom: [0, 0, 0, 0], terminalSequence: 1,
                                            time: BCDDateTime(text: "20261122080000")!, terminalNumber: [0, 0, 0, 0, 0, 0]),
                        tac: [0, 0, 0, 0], mac2: [0, 0, 0, 0], mac2Verified: true)
    }

    @Test func resultsFitTheDisplay() {
        let small = ValidatorScreen(), big = ValidatorScreen(width: 20, height: 4)
        #expect(small.result(.approved(Self.receipt(amount: 0, before: 9750))) == ["CHECKED IN", "BAL 97.50"])
        #expect(small.result(.approved(Self.receipt(amount: 300, before: 9750))) == ["FARE 3.00", "BAL 94.50"])
        #expect(small.result(.declined(Decline(.transitRecordLocked, ""))) == ["REFUSED", "CARD IN USE BY A"])
        #expect(big.result(.declined(Decline(.transitRecordLocked, ""))) == ["REFUSED", "CARD IN USE BY ANOTH", "", ""])
        #expect(small.idle(line: 18, stop: "Harbour") == ["TAP CARD", "LINE 18 HARBOUR"])
        #expect(small.tapAgain == ["TAP CARD", "AGAIN"])
    }
}
