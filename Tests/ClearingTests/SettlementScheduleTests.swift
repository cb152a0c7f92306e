import Foundation
import Settings
import StoreAndForward
import Testing

@Suite struct SettlementScheduleTests {
    @Test func aScheduleIsAnHourAndMinute() {
        #expect(SettlementSchedule("22:30") != nil)
        for bad in ["24:00", "7:30", "22:60", "2230", "22:3a", "", "22:30:00", "-1:30"] { #expect(SettlementSchedule(bad) == nil, "\(bad)") }
    }

    @Test func dueOnceADayFromItsTimeUntilItBalances() throws {
        let schedule = try #require(SettlementSchedule("22:30"))
        #expect(!schedule.isDue(now: "20261201222959", lastBalancedDay: nil))
        #expect(schedule.isDue(now: "20261201223000", lastBalancedDay: nil))
        #expect(schedule.isDue(now: "20261201235959", lastBalancedDay: "20261130"), "yesterday's does not count")
        #expect(!schedule.isDue(now: "20261201235959", lastBalancedDay: "20261201"))
        #expect(!schedule.isDue(now: "20261202000100", lastBalancedDay: "20261201"), "the next day, before its time")
        #expect(!schedule.isDue(now: "garbage", lastBalancedDay: nil))
    }

    @Test func theSupervisorPINIsKeptAsASaltedHash() throws {
        let pin = try SupervisorPIN(pin: "4242")
        #expect(pin.matches("4242") && !pin.matches("4243") && !pin.matches(""))
        let again = try SupervisorPIN(pin: "4242")
        #expect(!pin.sha256.contains("4242") && pin.salt != again.salt && again.matches("4242"), "salted")
        var settings = TerminalSettings(terminalID: "112233445566", clearingURL: "http://127.0.0.1:1", mode: .cashier, board: nil,
                                        cardReader: "a", psamReader: "b", supervisorPIN: pin, settleAt: "22:30")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pin-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try settings.save(in: directory)
        settings = try #require(try TerminalSettings.load(from: directory))
        #expect(settings.supervisorPIN?.matches("4242") == true, "kept across a save and a load")
        for bad in ["123", "1234567890123", "12a4", "12 34"] { #expect(throws: SupervisorPIN.Invalid.self) { try SupervisorPIN(pin: bad) } }
    }
}
