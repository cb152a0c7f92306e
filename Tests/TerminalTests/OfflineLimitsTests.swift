import Journal
import Purse
import Terminal
import Testing
import TestSupport

/// Each offline limit at its edge: the last sale that fits is taken, the one
/// past it is refused.
@Suite struct OfflineLimitsTests {
    static let limits = OfflineLimits(maxRecords: 10, maxAmount: 1000, maxHours: 24)
    static let now = BCDDateTime(text: "20261122120000")!

    @Test func records() {
        #expect(Self.limits.refusal(OfflineExposure(records: 9), amount: 1, now: Self.now) == nil, "the 10th record fits")
        #expect(Self.limits.refusal(OfflineExposure(records: 10), amount: 1, now: Self.now)?.contains("limit 10") == true)
    }

    @Test func amount() {
        let taken = OfflineExposure(records: 1, debitAmount: 900, oldestTime: "20261122110000")
        #expect(Self.limits.refusal(taken, amount: 100, now: Self.now) == nil, "exactly up to the limit")
        #expect(Self.limits.refusal(taken, amount: 101, now: Self.now)?.contains("1000") == true)
    }

    @Test func hours() {
        let dayOld = OfflineExposure(records: 1, debitAmount: 1, oldestTime: "20261121120000")
        #expect(Self.limits.refusal(dayOld, amount: 1, now: Self.now) == nil, "exactly 24 hours is not past 24")
        #expect(Self.limits.refusal(dayOld, amount: 1, now: BCDDateTime(text: "20261122120001")!)?.contains("hours old") == true)
    }

    @Test func journalKeepsTheExposureWithoutScanning() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        let sale = ClearingRecord(kind: .purchase, time: "20261122100000", cardNo: "8888000000000001", amount: 250, balanceBefore: 1000,
                                  cardCounter: 1, terminalSeq: 1, txType: 6, keyVersion: 1, algID: 0, tac: "00000000")
        try journal.append(sale)
        try journal.append(ClearingRecord(kind: .declined, time: "20261122110000", cardNo: "8888000000000001", amount: 0,
                                          balanceBefore: 0, cardCounter: 0, reason: "expired"))
        let expected = OfflineExposure(records: 2, debitAmount: 250, oldestTime: "20261122100000")
        #expect(journal.offlineExposure == expected)
        #expect(Journal(directory: dir.url).offlineExposure == expected, "rebuilt the same on start")
    }
}
