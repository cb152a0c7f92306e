import Cashier
import Testing

/// The decimal key and the merchant's menu as pure key-in, screen-out behaviour.
@Suite struct MerchantMenuFlowTests {
    func keyed(_ keys: [String], _ flow: inout CashierFlow) { for key in keys { _ = flow.press(key) } }

    @Test(arguments: [
        (["1", "2", ".", "5"], "12.5", 1250),
        (["1", "2", ".", "5", "0"], "12.50", 1250),
        (["1", "2", "."], "12.", 1200),
        (["1", "2", "5", "0"], "12.50", 1250),  // no decimal key: cash-register style, as before
        ([".", "5"], "0.5", 50),
        (["1", ".", "2", "3", "4"], "1.23", 123),  // two fen digits at most
        (["1", ".", "."], "1.", 100),  // one decimal key
        (["1", "2", ".", "5", "BACK", "BACK"], "0.12", 12),  // BACK undoes the dot: the digits are fen again
        (["9", "9", "9", "9", "9", "9", "."], "9999.99", 999_999),  // six digits are fen: the dot is refused
        (["0", "0", "7", ".", "5"], "7.5", 750),
    ] as [([String], String, UInt32)])
    func amountsKeyedWithAndWithoutTheDecimalKey(keys: [String], shown: String, fen: UInt32) {
        var flow = CashierFlow(maxPurchase: 10_000_000)
        keyed(keys, &flow)
        #expect(flow.screen == ["AMOUNT", shown], "\(keys)")
        #expect(flow.press("ENTER") == .purchase(amount: fen), "\(keys)")
    }

    @Test func theMenuPicksReportsAndPagesThem() {
        var flow = CashierFlow(maxPurchase: 1000)
        keyed(["1", "2"], &flow)
        #expect(flow.press("MENU") == nil)
        #expect(flow.screen == ["1 TOTALS 2 SALES", "3 SETTLE 4 INFO"], "MENU drops the amount being keyed")
        #expect(flow.press("1") == .report(.dayTotals))
        flow.show(MenuReport(title: "TOTALS 12-01", entries: [["SALES 3"], ["AMOUNT 7.50"], ["DECLINED 1"], ["UNSENT 2"]]))
        #expect(flow.screen == ["SALES 3", "AMOUNT 7.50"], "no title on a two-row display")
        _ = flow.press("ENTER")
        #expect(flow.screen == ["DECLINED 1", "UNSENT 2"])
        _ = flow.press("ENTER")
        #expect(flow.state == .menu, "ENTER after the last page goes back to the menu")
        #expect(flow.press("2") == .report(.lastSales))
        #expect(flow.press("4") == .report(.terminalInfo))
        _ = flow.press("CANCEL")
        #expect(flow.state == .idle)

        var tall = CashierFlow(maxPurchase: 1000, width: 20, height: 4)
        _ = tall.press("MENU")
        #expect(tall.screen == ["MENU", "1 TOTALS 2 SALES", "3 SETTLE 4 INFO", "CANCEL TO LEAVE"])
        tall.show(MenuReport(title: "LAST SALES", entries: [["16:05 *0001", "2.50 PAID"], ["16:04 *0002", "1.00 DECLINED"]]))
        #expect(tall.screen == ["LAST SALES", "16:05 *0001", "2.50 PAID", ""], "whole entries only")
    }

    @Test func settlingAsksForTheSupervisorPINAndMasksIt() {
        var flow = CashierFlow(maxPurchase: 1000)
        _ = flow.press("MENU")
        _ = flow.press("3")
        #expect(flow.screen == ["NO SUPERVISOR", "PIN SET UP"], "no PIN provisioned: no settling from the keypad")

        flow.supervisorPINProvisioned = true
        _ = flow.press("MENU")
        _ = flow.press("3")
        #expect(flow.screen == ["SUPERVISOR PIN", ""])
        keyed(["4", "2", "4", "2", "9", "BACK"], &flow)
        #expect(flow.screen == ["SUPERVISOR PIN", "****"])
        #expect(flow.press("ENTER") == .settle(pin: "4242"))
        #expect(flow.screen == ["SETTLING", "PLEASE WAIT"])
        #expect(flow.press("CANCEL") == nil && flow.screen == ["SETTLING", "PLEASE WAIT"], "keys wait while settling")
        flow.show(MenuReport(title: "SETTLE", entries: [["BALANCED", "BATCH 1"]]))
        #expect(flow.screen == ["BALANCED", "BATCH 1"])
    }

    @Test func theMenuWorksWhileSalesAreRefused() {
        var flow = CashierFlow(maxPurchase: 1000)
        flow.refusal = "OFFLINE LIMIT"
        _ = flow.press("5")
        #expect(flow.state == .idle)
        _ = flow.press("MENU")
        #expect(flow.press("1") == .report(.dayTotals))
    }

    @Test func aFailingScheduledSettlementShowsOnTheIdleScreen() {
        var flow = CashierFlow(maxPurchase: 1000)
        flow.notice = "SETTLE FAILED"
        #expect(flow.screen == ["READY", "SETTLE FAILED"])
    }
}
