import Foundation
import Journal
import Purse
import Terminal
import Testing
import TestSupport

/// The time given to cards: corrected by the platform's offset, never earlier
/// than the newest record.
@Suite struct TransactionTimeTests {
    static func date(_ text: String) -> Date {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMddHHmmss"
        formatter.timeZone = .current
        return formatter.date(from: text)!
    }

    @Test func followsTheClockOffsetAndNeverGoesBack() throws {
        let dir = try TemporaryDirectory("posd-time")
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        let now = Self.date("20261122120000")
        #expect(journal.transactionTime(now: now).description == "20261122120000")

        try journal.setClockOffset(seconds: 3600)
        #expect(journal.transactionTime(now: now).description == "20261122130000")

        try journal.append(ClearingRecord(kind: .declined, time: "20261122140000", cardNo: "8888000000000001", amount: 0,
                                          balanceBefore: 0, cardCounter: 0, reason: "insufficient_balance"))
        #expect(journal.transactionTime(now: now).description == "20261122140000", "a clock behind the last record is held at it")
        #expect(journal.transactionTime(now: Self.date("20261122133000")).description == "20261122143000")
    }
}
