import BenchSupport
import ClearingAPI
import Foundation
import Journal
import Logging
import Purse
import StoreAndForward
import Synchronization
import Terminal
import Testing
import TestSupport

/// A clearing platform that answers whatever its seeded generator likes:
/// seqs it was never sent, a seq both accepted and rejected, absurd versions,
/// limits and counts, hostile card numbers, `Retry-After` of any size and a
/// `Date` from any century. posd's store-and-forward must not trap, must
/// mark delivered only what an answer listed among what was sent, must never
/// apply parameters the contract forbids, and must keep a transaction clock
/// a card can hold. `POSD_FUZZ_SEED` / `POSD_FUZZ_RUNS` reproduce or lengthen it.
@Suite struct LyingPlatformTests {
    final class LyingPlatform: ClearingService, Sendable {
        let random: Mutex<SeededRandom>
        /// Of the seqs sent, those an answer listed as accepted or duplicate, and as rejected.
        let listed = Mutex<(delivered: Set<Int>, rejected: Set<Int>)>(([], []))

        init(seed: UInt64) { random = Mutex(SeededRandom(seed: seed)) }

        func pick(_ n: Int) -> Int { random.withLock { Int($0.next() % UInt64(n)) } }
        func chance(_ percent: Int) -> Bool { pick(100) < percent }

        /// Any integer a JSON number might carry, mostly ordinary.
        func integer() -> Int {
            [0, 1, -1, Int.max, Int.min, Int(Int32.max), Int(UInt32.max) + 1, pick(1000), -pick(1000), pick(10_000_000)][pick(10)]
        }

        func date() -> Date? {
            let seconds: [Double] = [0, -62_135_596_800, 946_684_799, 4_102_444_800, 1e11, -1e11, 1e15, Date().timeIntervalSince1970,
                                     Date().timeIntervalSince1970 + Double(pick(86_400 * 30))]
            return chance(20) ? nil : Date(timeIntervalSince1970: seconds[pick(seconds.count)])
        }

        func cardNumber() -> String {
            ["8888000000000001", "", "ABC", String(repeating: "9", count: 1000), "-1", "８８８８", "0000000000000000",
             String(format: "%016d", pick(1_000_000))][pick(8)]
        }

        /// Sometimes a failure instead of an answer.
        func failure() -> ClearingError? {
            guard chance(15) else { return nil }
            return [.busy(status: 503, retryAfter: chance(50) ? integer() : nil), .status(500), .timeout, .transport("reset"),
                    .malformedAnswer("junk"), .configuration(status: 401), .untrusted("impostor")][pick(7)]
        }

        func upload(_ records: [WireRecord]) async throws(ClearingError) -> Answer<UploadResponse> {
            if let failure = failure() { throw failure }
            var answer = UploadResponse()
            for record in records {
                switch pick(5) {
                case 0: answer.accepted.append(record.seq)
                case 1: answer.duplicates.append(record.seq)
                case 2: answer.rejected.append(.init(seq: record.seq, reason: chance(10) ? String(repeating: "x", count: 10_000) : "bad_tac"))
                case 3:  // in two lists at once
                    answer.accepted.append(record.seq)
                    answer.rejected.append(.init(seq: record.seq, reason: ""))
                default: break  // left out
                }
            }
            for _ in 0..<pick(4) { answer.accepted.append(integer()) }  // never sent
            if chance(20) { answer.accepted += answer.accepted }  // listed twice
            let sent = Set(records.map(\.seq))
            listed.withLock { listed in
                listed.delivered.formUnion(Set(answer.accepted + answer.duplicates).intersection(sent))
                listed.rejected.formUnion(Set(answer.rejected.map(\.seq)).intersection(sent))
            }
            return Answer(body: answer, serverDate: date())
        }

        func hotList(since version: Int) async throws(ClearingError) -> Answer<HotListUpdate> {
            if let failure = failure() { throw failure }
            let update = HotListUpdate(version: integer(), full: chance(50), add: (0..<pick(5)).map { _ in cardNumber() },
                                       remove: (0..<pick(3)).map { _ in cardNumber() })
            return Answer(body: update, serverDate: date())
        }

        func parameters(ifNoneMatch etag: String?) async throws(ClearingError) -> Answer<ParametersAnswer> {
            if let failure = failure() { throw failure }
            guard chance(70) else { return Answer(body: .unchanged, serverDate: date()) }
            let parameters = Parameters(
                version: integer(), merchantID: chance(10) ? String(repeating: "M", count: 5000) : "M1", maxPurchase: integer(),
                maxBalance: integer(), maxLoad: integer(), maxLoadsPerDay: integer(), maxOfflineRecords: integer(),
                maxOfflineAmount: integer(), maxOfflineHours: integer(),
                fares: .init(flat: integer(), transferWindowSeconds: integer(), transferDiscount: integer()))
            return Answer(body: .changed(parameters, etag: chance(20) ? nil : "\"v\(pick(100))\""), serverDate: date())
        }

        func settle(_ request: SettlementRequest) async throws(ClearingError) -> Answer<SettlementResponse> {
            if let failure = failure() { throw failure }
            let response = SettlementResponse(status: ["balanced", "unbalanced", "", "BALANCED"][pick(4)],
                                              count: chance(70) ? integer() : nil, amount: chance(70) ? integer() : nil,
                                              missing: chance(50) ? (0..<pick(5)).map { _ in integer() } : nil)
            return Answer(body: response, serverDate: date())
        }

        func authorizeLoad(_ request: LoadRequest) async throws(ClearingError) -> Answer<LoadResponse> {
            throw .refused("not in this harness")
        }
    }

    @Test func aLyingPlatformNeitherTrapsTheTerminalNorMovesItsBooks() async throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["POSD_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let runs = environment["POSD_FUZZ_RUNS"].flatMap(Int.init) ?? 300
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("posd-lying-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let journal = Journal(directory: directory)
        try fill(journal, to: 40)
        let platform = LyingPlatform(seed: seed)
        var logger = Logger(label: "lying-platform")
        logger.logLevel = .critical
        let uploader = Uploader(journal: journal, service: platform, logger: logger,
                                backoff: Backoff(base: .milliseconds(1), cap: .milliseconds(2), configurationFaultDelay: .milliseconds(2)),
                                batchSize: 7)
        let sync = PlatformSync(journal: journal, service: platform, logger: logger)
        let settlement = Settlement(uploader: uploader, service: platform, terminalID: "112233445566", logger: logger)
        var outcomes: [String: Int] = [:]
        for run in 0..<runs {
            if run % 10 == 5 { _ = try journal.append(sampleRecord(1000 + run)) }  // sales go on meanwhile
            switch platform.pick(4) {
            case 0: _ = try? await sync.refreshParameters()
            case 1: _ = try? await sync.refreshHotList()
            case 2: _ = await uploader.deliverAll(until: .now + .milliseconds(20))
            default:
                let outcome = await settlement.close(until: .now + .milliseconds(20))
                outcomes["\(outcome)".prefix(while: { $0 != "(" }).description, default: 0] += 1
            }
            // Whatever was stored is within the contract.
            if let stored = try PlatformSync.storedParameters(in: journal) {
                #expect(stored.problem == nil, "seed \(seed), run \(run): applied \(stored)")
            }
            // The transaction clock stays one a card can hold.
            let time = journal.transactionTime().description
            #expect(time.count == 14 && time >= "20000101000000" && time < "21000101000000", "seed \(seed), run \(run): \(time)")
        }

        // The books: delivered and rejected only as an answer said, of what was sent.
        let records = try journal.records(after: 0, limit: 10_000)
        let listed = platform.listed.withLock { $0 }
        for record in records {
            guard let state = try journal.uploadState(of: record.record.seq)?.state else { continue }
            switch state {
            case "delivered": #expect(listed.delivered.contains(record.record.seq), "seed \(seed): seq \(record.record.seq) delivered unlisted")
            case "rejected": #expect(listed.rejected.contains(record.record.seq), "seed \(seed): seq \(record.record.seq) rejected unlisted")
            default: break
            }
        }
        #expect(try journal.verifyWholeChain() == records.count)
        print("lying platform, seed \(seed): \(runs) rounds, \(records.count) records, \(listed.delivered.count) listed delivered, "
              + "\(listed.rejected.count) rejected; settlements \(outcomes.sorted { $0.key < $1.key })")
    }

    /// The clock from an implausible `Date`, or a real-time clock that lost its battery.
    @Test func aClockNoCardCanHoldIsNeitherAdoptedNorATrap() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("posd-clock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let journal = Journal(directory: directory)
        for year1999 in [Date(timeIntervalSince1970: 946_684_799), Date(timeIntervalSince1970: 4_102_444_800), Date(timeIntervalSince1970: 1e15)] {
            #expect(try ClockCorrection.observe(serverDate: year1999, journal: journal) == nil)
        }
        #expect(journal.clockOffsetSeconds == 0)
        #expect(BCDDateTime.now(Date(timeIntervalSince1970: 0)).description == "20000101000000", "a clock at 1970 reads as the earliest date")
        #expect(BCDDateTime.now(Date(timeIntervalSince1970: 1e12)).description == "99991231235959")
        #expect(journal.transactionTime(now: Date(timeIntervalSince1970: 0)).description == "20000101000000")
    }
}
