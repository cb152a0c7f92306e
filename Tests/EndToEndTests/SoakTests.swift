import Foundation
import BenchSupport
import Journal
import Purse
import Testing
import TestSupport
import VirtualCards

/// `posd run` as a bus validator for days of terminal time in a few minutes
/// of wall time: a tap at a time from a pool of cards, the platform's clock
/// (which the terminal follows) moved on twelve minutes at every tap, and on
/// the way a parameter change, an upload outage long enough to reach the
/// offline limit and then lift it by delivery, a card put on the hot list,
/// and pcscd crashing and coming back. Money is judged from the cards, the
/// journal and the platform; resident memory and open descriptors of the
/// service are sampled; tap latency is printed for the first and last tenth.
/// `POSD_SOAK_TAPS` lengthens the run.
@Suite struct SoakTests {
    static let terminalMinutesPerTap = 12

    /// Card `index` of the pool: test card 1's profile and keys diversified for its own number.
    static func poolCard(_ index: Int) -> PurseCardState {
        var ef15 = PurseCardState.testCard1().ef15
        let number = [UInt8](hex: String(format: "88880000%08d", 100 + index))!
        ef15.replaceSubrange(12..<20, with: number)
        return PurseCardState.personalise(profile: .cu, ef15: ef15, appVersion: 0x01, algorithmID: 0x00,
                                          balance: 1_000_000, offlineCounter: 0, onlineCounter: 0)
    }

    /// The service's resident memory (kB) and open descriptors, from /proc, after `count` taps.
    static func footprint(_ pid: pid_t, after count: Int) -> (count: Int, rssKB: Int, fds: Int) {
        (count, statusKiB(pid: "\(pid)") ?? 0, openDescriptors(pid: "\(pid)") ?? 0)
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    static func parameters(flat: Int, discount: Int, maxOfflineRecords: Int, version: Int) -> String {
        """
        {"version":\(version),"merchant_id":"898110000000001","max_purchase":50000,"max_balance":2000000,"max_load":50000,
         "max_loads_per_day":5,"max_offline_records":\(maxOfflineRecords),"max_offline_amount":5000000,"max_offline_hours":168,
         "fares":{"flat":\(flat),"transfer_window_s":5400,"transfer_discount":\(discount)}}
        """
    }

    @Test func aValidatorForDaysOfTerminalTime() async throws {
        let taps = ProcessInfo.processInfo.environment["POSD_SOAK_TAPS"].flatMap(Int.init) ?? 500
        let poolSize = 24
        var pool = (0..<poolSize).map(Self.poolCard)
        let initialTotal = pool.reduce(0) { $0 + Int64($1.balance) }
        let bench = try FieldBench(card: pool[0])
        let provisioned = try bench.provision()
        #expect(provisioned.status == 0, "\(provisioned.stdout)\(provisioned.stderr)")
        try bench.startService()
        let platform = bench.platform
        guard let pid = bench.servicePID else { throw HarnessError("no service") }

        // When each event happens, by tap number.
        let newFares = taps / 5, outageStarts = taps * 3 / 10, outageEnds = taps * 45 / 100
        let hotListed = taps / 2, pcscdCrash = taps * 6 / 10
        let blockedCard = 7
        let outageLimit = max(3, (outageEnds - outageStarts) / 2)  // reached halfway through the outage

        var latencies: [Double] = []
        var outcomes: [String: Int] = [:]
        var samples = [Self.footprint(pid, after: 0)]
        var faresChangedAtRecord: Int?
        var line = 0
        let started = ContinuousClock.now
        for tap in 0..<taps {
            switch tap {
            case newFares:
                let logged = bench.log?.all.count ?? 0
                try await platform.control(.PUT, "/control/parameters",
                                           Self.parameters(flat: 300, discount: 0, maxOfflineRecords: outageLimit, version: 9))
                #expect(bench.log?.await("parameters applied", "version=9", after: logged) != nil)
                faresChangedAtRecord = try Journal(directory: bench.data, readOnly: true).records(after: 0, limit: 100_000).count
            case outageStarts:
                try await platform.control(.POST, "/control/fault", #"{"kind":"503","count":1000000,"path":"/v1/records"}"#)
            case outageEnds:
                let logged = bench.log?.all.count ?? 0
                try await platform.control(.DELETE, "/control/fault")
                #expect(bench.log?.await("records delivered", "undelivered=0", after: logged) != nil, "delivered after the outage")
            case hotListed:
                let logged = bench.log?.all.count ?? 0
                let number = pool[blockedCard].cardNumber.map { String(format: "%02X", $0) }.joined()
                try await platform.control(.POST, "/control/hotlist", #"{"add":["\#(number)"],"listed_at":"20000101000000"}"#)
                #expect(bench.log?.await("hot list applied", "add=1", after: logged) != nil)
            case pcscdCrash:
                let logged = bench.log?.all.count ?? 0
                bench.pcscd.stop(signal: SIGKILL)
                #expect(bench.log?.await("no taps", after: logged) != nil)
                try bench.pcscd.start()
                #expect(bench.log?.await("taps again", after: logged) != nil)
            default:
                break
            }
            // Twelve minutes of terminal time per tap: no card is ever a double tap.
            try await bench.advanceClock(by: Self.terminalMinutesPerTap * 60, awaitCorrection: false)

            let card = tap % poolSize
            bench.card.withCard { $0 = SimulatedPurseCard(state: pool[card]) }
            let presented = ContinuousClock.now
            bench.present()
            var result = try bench.result(after: line)
            line += 1
            while result.contains("AGAIN") {
                result = try bench.result(after: line)
                line += 1
            }
            let took = ContinuousClock.now - presented
            latencies.append(Double(took.components.seconds) * 1000 + Double(took.components.attoseconds) / 1e15)
            let kind = result.split(separator: " ").first.map(String.init) ?? "?"
            let reason = result.split(separator: "[").last.map { "[" + $0 } ?? ""
            outcomes[kind == "DECLINED" ? "DECLINED \(reason)" : kind, default: 0] += 1
            try bench.lift()
            pool[card] = bench.card.withCard { $0.state }
            if tap % max(1, taps / 20) == 0 || tap == taps - 1 { samples.append(Self.footprint(pid, after: tap + 1)) }
        }
        let elapsed = ContinuousClock.now - started

        let journal = bench.deliverAndStop()
        let records = try journal.records(after: 0, limit: 100_000).map(\.record)
        let debits = records.filter { $0.kind == .cappPurchase }
        var mismatches = 0
        for state in pool {
            let number = state.cardNumber.map { String(format: "%02X", $0) }.joined()
            let lost = Int64(Self.poolCard(0).balance) - Int64(state.balance)
            let journalled = debits.filter { $0.cardNo == number }.reduce(0) { $0 + Int64($1.amount) }
            if lost != journalled { mismatches += 1 }
            #expect(lost == journalled, "card \(number): lost \(lost), journalled \(journalled)")
        }
        let finalTotal = pool.reduce(0) { $0 + Int64($1.balance) }
        let journalTotal = debits.reduce(0) { $0 + Int64($1.amount) }
        #expect(initialTotal - finalTotal == journalTotal)
        #expect(debits.allSatisfy { tacVerifies($0) }, "every TAC verifies")
        #expect(try journal.openEntries().isEmpty, "nothing left open")
        let summary = try await platform.summary()
        #expect(summary.records == records.count && summary.debit_amount == Int(journalTotal), "the platform holds every record once")
        if mismatches == 0, summary.debit_amount != Int(journalTotal) { mismatches += 1 }
        let verified = try bench.pcscd.runTool(["journal", "verify", "--data-dir", bench.data.path])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")

        // The events did what they should.
        #expect((outcomes["DECLINED [offline_limit]"] ?? 0) > 0, "the offline limit was reached during the outage")
        #expect((outcomes["APPROVED"] ?? 0) > taps * 3 / 4)
        if let faresChangedAtRecord {
            let later = records.dropFirst(faresChangedAtRecord).filter { $0.kind == .cappPurchase }
            #expect(!later.isEmpty && later.allSatisfy { $0.amount == 300 }, "the new fare from the next tap on")
        }
        #expect(records.contains { $0.kind == .cardBlocked }, "the hot-listed card was blocked")

        // Footprint flat: no descriptor leak, memory within a few MB of where it settled.
        let settled = samples[min(2, samples.count - 1)]
        let last = samples[samples.count - 1]
        #expect(last.fds <= settled.fds + 2, "open descriptors: \(samples.map(\.fds))")
        #expect(last.rssKB <= settled.rssKB + 8_192, "resident memory (kB): \(samples.map(\.rssKB))")

        let tenth = max(1, taps / 10)
        let first = Array(latencies.prefix(tenth)), final = Array(latencies.suffix(tenth))
        let days = Double(taps * Self.terminalMinutesPerTap) / (24 * 60)
        // One part a line: Swift 6.2 cannot type-check the whole sum in reasonable time.
        let parts: [String] = [
            "soak (validator): \(taps) taps over \(String(format: "%.1f", days)) days of terminal time in \(elapsed.components.seconds) s",
            "outcomes " + outcomes.keys.sorted().map { "\($0): \(outcomes[$0]!)" }.joined(separator: ", "),
            "money mismatches \(mismatches) (cards lost \(initialTotal - finalTotal), journal \(journalTotal), platform \(summary.debit_amount) fen)",
            "RSS kB " + samples.map { "\($0.count):\($0.rssKB)" }.joined(separator: " "),
            "fds " + samples.map { "\($0.fds)" }.joined(separator: " "),
            String(format: "tap latency p50/p99 first tenth %.0f/%.0f ms, last tenth %.0f/%.0f ms",
                   Self.percentile(first, 0.5), Self.percentile(first, 0.99), Self.percentile(final, 0.5), Self.percentile(final, 0.99)),
        ]
        print(parts.joined(separator: "; "))
    }

    /// `posd run` as a shop's cashier terminal on board-sim's keypad and
    /// display: one customer's card, an hour of terminal time per sale, an
    /// upload outage the terminal sells through, and pcscd crashing (the idle
    /// screen says NO SALES / PC/SC until it is back). `POSD_SOAK_SALES` lengthens it.
    @Test func aCashierForDaysOfTerminalTime() async throws {
        let sales = ProcessInfo.processInfo.environment["POSD_SOAK_SALES"].flatMap(Int.init) ?? 200
        var initial = Self.poolCard(99)
        initial.balance = 5_000_000
        let bench = try FieldBench(card: initial)
        let (socket, boardFile, board) = try PurchaseEndToEndTests.startBoardSimulator(in: bench.directory)
        defer {
            board.terminate()
            board.waitUntilExit()
        }
        let provisioned = try bench.provision(["--mode", "cashier", "--board", boardFile.path])
        #expect(provisioned.status == 0, "\(provisioned.stdout)\(provisioned.stderr)")
        try bench.startService()
        guard let pid = bench.servicePID else { throw HarnessError("no service") }
        let ready = ["READY", "ENTER AMOUNT"]
        #expect(try PurchaseEndToEndTests.awaitScreen(socket, ready, within: 20_000) == "ok READY|ENTER AMOUNT")

        let outageStarts = sales / 4, outageEnds = sales / 2, pcscdCrash = sales * 3 / 4
        var latencies: [Double] = []
        var samples: [(count: Int, rssKB: Int, fds: Int)] = []
        var balance = Int64(initial.balance)
        var charged: Int64 = 0
        let started = ContinuousClock.now
        for sale in 0..<sales {
            switch sale {
            case outageStarts:
                try await bench.platform.control(.POST, "/control/fault", #"{"kind":"503","count":1000000,"path":"/v1/records"}"#)
            case outageEnds:
                let logged = bench.log?.all.count ?? 0
                try await bench.platform.control(.DELETE, "/control/fault")
                #expect(bench.log?.await("records delivered", "undelivered=0", after: logged) != nil, "delivered after the outage")
            case pcscdCrash:
                bench.pcscd.stop(signal: SIGKILL)
                #expect(try PurchaseEndToEndTests.awaitScreen(socket, ["NO SALES", "PC/SC"], within: 10_000) == "ok NO SALES|PC/SC")
                try bench.pcscd.start()
                #expect(try PurchaseEndToEndTests.awaitScreen(socket, ready, within: 20_000) == "ok READY|ENTER AMOUNT")
            default:
                break
            }
            try await bench.advanceClock(by: 3600, awaitCorrection: false)
            // 1.00 to 9.00: a digit, then the decimal key.
            let digit = 1 + sale % 9
            try PurchaseEndToEndTests.press(socket, "\(digit)", until: ["AMOUNT", "0.0\(digit)"])
            try PurchaseEndToEndTests.press(socket, ".", until: ["AMOUNT", "\(digit)."])
            try PurchaseEndToEndTests.press(socket, "ENTER", until: ["PRESENT CARD", "\(digit).00"])
            let presented = ContinuousClock.now
            bench.present()
            balance -= Int64(digit) * 100
            charged += Int64(digit) * 100
            let approved = ["APPROVED \(digit).00", "BALANCE " + Money(balance).description]
            #expect(try PurchaseEndToEndTests.awaitScreen(socket, approved, within: 20_000) == "ok " + approved.joined(separator: "|"),
                    "sale \(sale)")
            let took = ContinuousClock.now - presented
            latencies.append(Double(took.components.seconds) * 1000 + Double(took.components.attoseconds) / 1e15)
            try bench.lift()
            try PurchaseEndToEndTests.press(socket, "CANCEL", until: ready)
            if sale % max(1, sales / 10) == 0 || sale == sales - 1 { samples.append(Self.footprint(pid, after: sale + 1)) }
        }
        let elapsed = ContinuousClock.now - started

        let journal = bench.deliverAndStop()
        let debits = try journal.records(after: 0, limit: 100_000).map(\.record).filter { $0.kind == .purchase }
        let journalled = debits.reduce(0) { $0 + Int64($1.amount) }
        let lost = Int64(initial.balance) - Int64(bench.cardState.balance)
        let summary = try await bench.platform.summary()
        let mismatches = [lost, Int64(summary.debit_amount)].filter { $0 != journalled }.count + (journalled == charged ? 0 : 1)
        #expect(lost == charged && journalled == charged && summary.debit_amount == Int(charged), "money: card \(lost), journal \(journalled)")
        #expect(debits.count == sales && debits.allSatisfy { tacVerifies($0) })
        #expect(try journal.openEntries().isEmpty)
        let settled = samples[min(1, samples.count - 1)], last = samples[samples.count - 1]
        #expect(last.fds <= settled.fds + 2, "open descriptors: \(samples.map(\.fds))")
        #expect(last.rssKB <= settled.rssKB + 8_192, "resident memory (kB): \(samples.map(\.rssKB))")
        let tenth = max(1, sales / 10)
        let first = Array(latencies.prefix(tenth)), final = Array(latencies.suffix(tenth))
        print("soak (cashier): \(sales) sales over \(sales / 24) days of terminal time in \(elapsed.components.seconds) s; "
              + "money mismatches \(mismatches) (card \(lost), journal \(journalled), platform \(summary.debit_amount) fen); "
              + "RSS kB " + samples.map { "\($0.count):\($0.rssKB)" }.joined(separator: " ")
              + "; fds " + samples.map { "\($0.fds)" }.joined(separator: " ")
              + String(format: "; card to APPROVED p50/p99 first tenth %.0f/%.0f ms, last tenth %.0f/%.0f ms",
                       Self.percentile(first, 0.5), Self.percentile(first, 0.99), Self.percentile(final, 0.5), Self.percentile(final, 0.99)))
    }
}
