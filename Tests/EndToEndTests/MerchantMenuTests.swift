import Foundation
import Journal
import LineServer
import Testing
import TestSupport
import VirtualCards

/// The shop owner's terminal as deployed: `posd run` as a cashier on
/// board-sim's keypad and display, on a pcscd of the test's own, the platform
/// over HTTPS. Amounts keyed with the decimal key, the menu's day totals and
/// last sales against the journal, settling from the keypad behind the
/// supervisor PIN, and the day's scheduled settlement retried until it balances.
@Suite struct MerchantMenuTests {
    typealias Keys = PurchaseEndToEndTests

    @Test func theOwnerReadsTheDaySettlesAndTheTerminalSettlesByItself() async throws {
        let bench = try FieldBench(card: .testCard1())
        let (socket, boardFile, board) = try Keys.startBoardSimulator(in: bench.directory)
        defer {
            board.terminate()
            board.waitUntilExit()
        }
        let pinFile = bench.directory.appendingPathComponent("supervisor-pin")
        try "4242\n".write(to: pinFile, atomically: true, encoding: .utf8)
        let provisioned = try bench.provision(["--mode", "cashier", "--board", boardFile.path, "--supervisor-pin-file", pinFile.path,
                                               "--settle-at", "10:00"])
        #expect(provisioned.status == 0, "\(provisioned.stdout)\(provisioned.stderr)")
        let settings = try String(contentsOf: bench.data.appendingPathComponent("terminal.json"), encoding: .utf8)
        #expect(!settings.contains("4242") && settings.contains("supervisor_pin"), "the PIN is kept hashed")
        try bench.startService(["--settle-retry-seconds", "1"])
        let ready = ["READY", "ENTER AMOUNT"]
        #expect(try Keys.awaitScreen(socket, ready, within: 20_000) == "ok READY|ENTER AMOUNT")
        // The terminal's day: tomorrow 09:00 by the platform's clock, which it follows.
        try await bench.advanceClock(by: Self.seconds(untilTomorrowAt: 9))

        // 12.50 keyed with the decimal key, 2.50 the cash-register way.
        func sell(_ keys: [(String, String)], charged: String, balance: String) throws {
            for (key, shown) in keys { try Keys.press(socket, key, until: ["AMOUNT", shown]) }
            try Keys.press(socket, "ENTER", until: ["PRESENT CARD", charged])
            bench.present()
            let approved = ["APPROVED " + charged, "BALANCE " + balance]
            #expect(try Keys.awaitScreen(socket, approved, within: 20_000) == "ok " + approved.joined(separator: "|"))
            try bench.lift()
            try Keys.press(socket, "CANCEL", until: ready)
        }
        try sell([("1", "0.01"), ("2", "0.12"), (".", "12."), ("5", "12.5")], charged: "12.50", balance: "87.50")
        try sell([("2", "0.02"), ("5", "0.25"), ("0", "2.50")], charged: "2.50", balance: "85.00")
        let logged = bench.log?.all.count ?? 0
        _ = bench.log?.await("records delivered", "undelivered=0", after: logged, seconds: 20)

        // Day totals, against the journal.
        let day = try #require(try Journal(directory: bench.data, readOnly: true).lastRecords(1).first).time.prefix(8)
        let totals = try Journal(directory: bench.data, readOnly: true).dayTotals(day: String(day))
        #expect(totals.sales == 2 && totals.salesAmount == 1500 && totals.declines == 0 && totals.undelivered == 0, "\(totals)")
        try Keys.press(socket, "MENU", until: ["1 TOTALS 2 SALES", "3 SETTLE 4 INFO"])
        try Keys.press(socket, "1", until: ["SALES \(totals.sales)", "AMOUNT 15.00"])
        try Keys.press(socket, "ENTER", until: ["DECLINED 0", "UNSENT 0"])
        try Keys.press(socket, "ENTER", until: ["1 TOTALS 2 SALES", "3 SETTLE 4 INFO"])
        // The last sales, newest first.
        let sales = try Journal(directory: bench.data, readOnly: true).lastRecords(2)
        func heading(_ record: ClearingRecord) -> String {
            String(record.time.dropFirst(8).prefix(2)) + ":" + String(record.time.dropFirst(10).prefix(2)) + " *" + record.cardNo.suffix(4)
        }
        try Keys.press(socket, "2", until: [heading(sales[0]), "2.50 PAID"])
        try Keys.press(socket, "ENTER", until: [heading(sales[1]), "12.50 PAID"])
        try Keys.press(socket, "BACK", until: ["1 TOTALS 2 SALES", "3 SETTLE 4 INFO"])
        try Keys.press(socket, "4", until: ["ID \(terminalID)", "FW DEV"])

        // Settling from the keypad: the supervisor PIN, masked; a wrong one settles nothing.
        func settle(pin: String, shows expected: [String]) throws {
            try Keys.press(socket, "MENU", until: ["1 TOTALS 2 SALES", "3 SETTLE 4 INFO"])
            try Keys.press(socket, "3", until: ["SUPERVISOR PIN", ""])
            for (index, digit) in pin.enumerated() {
                try Keys.press(socket, String(digit), until: ["SUPERVISOR PIN", String(repeating: "*", count: index + 1)])
            }
            #expect(try controlRequest(path: socket, "await-released 10000") == "ok")
            #expect(try controlRequest(path: socket, "press ENTER") == "ok")
            let shown = try Keys.awaitScreen(socket, expected, within: 30_000)
            #expect(try controlRequest(path: socket, "release ENTER") == "ok")
            #expect(shown == "ok " + expected.joined(separator: "|"))
        }
        try settle(pin: "1111", shows: ["WRONG PIN", ""])
        #expect(try await bench.platform.summary().records == 2)
        #expect(!bench.platform.requests.contains { $0.contains("/v1/settlements") }, "a wrong PIN settles nothing")
        try settle(pin: "4242", shows: ["BALANCED", "BATCH 1"])
        try Keys.press(socket, "ENTER", until: ["2 SALES", "15.00"])
        try Keys.press(socket, "CANCEL", until: ready)
        #expect(bench.log?.all.joined().contains("4242") == false, "the PIN never reaches the log")

        // The day's scheduled settlement at 10:00: the platform refuses it,
        // the idle screen says so, and it is tried again until it balances.
        try sell([("1", "0.01"), (".", "1."), ("5", "1.5")], charged: "1.50", balance: "83.50")
        try await bench.platform.control(.POST, "/control/fault", #"{"kind":"503","count":1000000,"path":"/v1/settlements"}"#)
        try await bench.advanceClock(by: 2 * 3600)
        #expect(try Keys.awaitScreen(socket, ["READY", "SETTLE FAILED"], within: 30_000) == "ok READY|SETTLE FAILED")
        let retried = bench.log?.all.count ?? 0
        try await bench.platform.control(.DELETE, "/control/fault")
        #expect(try Keys.awaitScreen(socket, ready, within: 30_000) == "ok READY|ENTER AMOUNT", "\(bench.log?.all.suffix(5) ?? [])")
        #expect(bench.log?.await("settlement", "balanced", after: retried, seconds: 5) != nil)
        try Keys.press(socket, "MENU", until: ["1 TOTALS 2 SALES", "3 SETTLE 4 INFO"])
        try Keys.press(socket, "4", until: ["ID \(terminalID)", "FW DEV"])
        try Keys.press(socket, "ENTER", until: ["JOURNAL OK", "PLATFORM OK"])
        try Keys.press(socket, "ENTER", until: ["SYNC " + Self.monthDay(bench) + " ", "CLOCK +\(Self.correction(bench))S"], prefixes: true)
        try Keys.press(socket, "ENTER", until: ["SETTLE AT 10:00", "SETTLED " + Self.monthDay(bench)])
        try Keys.press(socket, "CANCEL", until: ready)

        let journal = bench.deliverAndStop()
        #expect(bench.cardState.balance == 10_000 - 1250 - 250 - 150)
        #expect(try journal.nextBatch() == nil, "every record is in a balanced batch")
        #expect(try await bench.platform.summary().debit_amount == 1650)
    }

    /// Seconds from now to `hour`:00 tomorrow, local time.
    static func seconds(untilTomorrowAt hour: Int) -> Int {
        let calendar = Calendar.current
        let tomorrow = calendar.date(byAdding: .day, value: 1, to: calendar.startOfDay(for: Date()))!
        return Int(calendar.date(byAdding: .hour, value: hour, to: tomorrow)!.timeIntervalSinceNow)
    }

    static func correction(_ bench: FieldBench) -> Int { Journal(directory: bench.data, readOnly: true).clockOffsetSeconds }

    /// The terminal's date as the menu shows it ("MM-DD"), from its last record.
    static func monthDay(_ bench: FieldBench) -> String {
        let time = (try? Journal(directory: bench.data, readOnly: true).lastRecords(1).first?.time) ?? ""
        return String(time.dropFirst(4).prefix(2)) + "-" + String(time.dropFirst(6).prefix(2))
    }
}
