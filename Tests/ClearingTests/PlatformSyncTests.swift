import BenchSupport
import ClearingAPI
import Foundation
import Journal
import StoreAndForward
import Testing
import TestSupport

@Suite struct PlatformSyncTests {
    @Test func parametersHotListAndClockFollowThePlatform() async throws {
        let dir = try TemporaryDirectory("posd-sync")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        let arguments = try clearingArguments(platform, dataDir: data)
        try await platform.control(.POST, "/control/hotlist", #"{"add":["8888000000000007","8888000000000008","8888000000000009"]}"#)
        try await platform.control(.POST, "/control/clock", #"{"skew_seconds":3600}"#)

        let first = try PosdRun.run(["sync"] + arguments)
        #expect(first.status == 0, "\(first.stderr.suffix(1500))")
        var journal = Journal(directory: data)
        #expect(try PlatformSync.storedParameters(in: journal)?.version == 7)
        #expect(try journal.hotListVersion == 3)
        #expect(try journal.isHotListed("8888000000000008"))
        let offset = journal.clockOffsetSeconds
        #expect(abs(offset - 3600) <= 5, "offset \(offset)")

        // Unchanged parameters come back as 304; a delta removes one card and adds one.
        try await platform.control(.POST, "/control/hotlist", #"{"add":["8888000000000010"],"remove":["8888000000000008"]}"#)
        let second = try PosdRun.run(["sync"] + arguments)
        #expect(second.stderr.contains("status: 304") || second.stderr.contains("status=304"), "\(second.stderr.suffix(1500))")
        #expect(second.stderr.contains("full: false") || second.stderr.contains("full=false"))
        journal = Journal(directory: data)
        #expect(try !journal.isHotListed("8888000000000008"))
        #expect(try journal.isHotListed("8888000000000010"))
        #expect(try journal.hotListCount == 3)

        var changed = Parameters(version: 8, merchantID: "898110000000001", maxPurchase: 3000, maxBalance: 100_000, maxLoad: 50_000,
                                 maxLoadsPerDay: 5, maxOfflineRecords: 10, maxOfflineAmount: 9000, maxOfflineHours: 24,
                                 fares: .init(flat: 200, transferWindowSeconds: 5400, transferDiscount: 100))
        try await platform.control(.PUT, "/control/parameters", String(decoding: try JSONEncoder().encode(changed), as: UTF8.self))
        #expect(try PosdRun.run(["sync"] + arguments).status == 0)
        changed.version = 8
        #expect(try PlatformSync.storedParameters(in: Journal(directory: data)) == changed)
        // max_purchase from the platform refuses a larger sale before any reader is touched.
        let over = try PosdRun.run(["purchase", "--amount", "3001", "--data-dir", data.path, "--json"])
        #expect(over.status == 1)
        #expect(over.stdout.contains("invalid_amount") && over.stderr.contains("max_purchase 3000"), "\(over.stdout)\(over.stderr)")
    }

    @Test func settlementBalancesAndResendsWhatThePlatformLost() async throws {
        let dir = try TemporaryDirectory("posd-settle")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        let arguments = try clearingArguments(platform, dataDir: data)
        let day1 = SyntheticSales.records(40)
        try Journal(directory: data).append(contentsOf: day1)

        let first = try PosdRun.run(["settle"] + arguments)
        #expect(first.status == 0, "\(first.stdout)\(first.stderr.suffix(1500))")
        #expect(first.stdout.contains("batch 1 balanced: records 1–40, 36 debits, \(SyntheticSales.debitTotal(day1)) fen"))

        // Day 2: the platform loses one of the delivered records before the close.
        let day2 = SyntheticSales.records(20, startingAt: 40)
        try Journal(directory: data).append(contentsOf: day2)
        #expect(try PosdRun.run(["sync"] + arguments).status == 0)
        try await platform.control(.DELETE, "/control/records?terminal_id=\(terminalID)&seq=45")
        let second = try PosdRun.run(["settle"] + arguments)
        #expect(second.status == 0, "\(second.stdout)\(second.stderr.suffix(1500))")
        #expect(second.stdout.contains("batch 2 balanced: records 41–60, 18 debits, \(SyntheticSales.debitTotal(day2)) fen"))
        #expect(second.stderr.contains("missing records"))
        #expect(try await platform.summary().records == 60)

        #expect(try PosdRun.run(["settle"] + arguments).stdout.contains("nothing to settle"))
    }

    @Test func settlementWaitsForDelivery() async throws {
        let dir = try TemporaryDirectory("posd-settle-wait")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        try Journal(directory: data).append(contentsOf: SyntheticSales.records(10))
        try await platform.control(.POST, "/control/fault", #"{"kind":"503","count":1000}"#)
        let run = try PosdRun.run(["settle", "--deadline-seconds", "1"] + clearingArguments(platform, dataDir: data))
        #expect(run.status == 75)
        #expect(run.stdout.contains("not settled: 10 records undelivered"))
    }

    @Test func backoffGrowsWithJitterAndHonoursRetryAfter() {
        let backoff = Backoff(base: .seconds(1), cap: .seconds(60))
        var random = SeededRandom(seed: 7)
        for failures in 1...12 {
            let ceiling = min(Duration.seconds(60), .seconds(1) * (1 << (failures - 1)))
            let delay = backoff.delay(afterFailures: failures, retryAfterSeconds: nil, using: &random)
            #expect(delay >= .zero && delay <= ceiling)
        }
        #expect(backoff.delay(afterFailures: 1, retryAfterSeconds: 30, using: &random) >= .seconds(30))
        #expect(backoff.delay(afterFailures: 1, retryAfterSeconds: nil, configurationFault: true, using: &random) == .seconds(300))
        let spread = Set((0..<20).map { _ in backoff.delay(afterFailures: 8, retryAfterSeconds: nil, using: &random) })
        #expect(spread.count > 10, "jittered, not in step")
    }
}
