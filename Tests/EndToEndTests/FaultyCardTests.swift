import Foundation
import Journal
import Testing
import TestSupport
import VirtualCards

/// `posd run` as a validator through pcscd and vpcd, against cards whose
/// answers are faulted from a seed (`AnswerFaults`, the engine behind
/// `vcard serve --fault-seed`): truncated, extended, a bit flipped, another
/// status word, replaced, lost, repeated, late, and for DEBIT the card
/// committing or not. Passengers tap again when asked. Money is judged from
/// the cards' own state: what each card lost is what the journal and the
/// platform hold, nothing is left open, and the hard cases happened.
/// `POSD_FAULT_TAPS`, `POSD_FUZZ_SEED` lengthen or reproduce the run.
@Suite struct FaultyCardTests {
    @Test func faultedCardAnswersNeverMisstateMoney() async throws {
        let environment = ProcessInfo.processInfo.environment
        let taps = environment["POSD_FAULT_TAPS"].flatMap(Int.init) ?? 150
        let seed = environment["POSD_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let faults = AnswerFaults(seed: seed, rate: 0.1)
        let poolSize = 6
        var pool = (0..<poolSize).map(SoakTests.poolCard)
        let initialTotal = pool.reduce(0) { $0 + Int64($1.balance) }
        let bench = try FieldBench(card: pool[0])
        #expect(try bench.provision().status == 0)
        try bench.startService()

        var line = 0
        var outcomes: [String: Int] = [:]
        var presentations = 0
        /// Presents the card (lifting it first if it is still in the field)
        /// until the terminal shows a result, as a passenger would: a card
        /// that left and came back before the terminal saw it leave is, to the
        /// terminal, the card it has served still lying there; it is lifted
        /// and tapped again when nothing shows for a while.
        func presentAgain() throws -> String {
            for _ in 0..<10 {
                if bench.card.isPresent { try bench.lift() }
                bench.present()
                presentations += 1
                let deadline = ContinuousClock.now + .seconds(6)
                while ContinuousClock.now < deadline {
                    if let result = bench.results?.await(after: line, seconds: 0.25) {
                        line += 1
                        return result.line
                    }
                }
            }
            throw HarnessError("ten presentations without a result, after \(faults.log.suffix(3)): "
                               + "\(bench.log?.all.filter { !$0.contains("StoreAndForward") }.suffix(6) ?? [])")
        }
        let started = ContinuousClock.now
        for tap in 0..<taps {
            // Twelve minutes of terminal time per tap: no card is ever a double tap.
            try await bench.advanceClock(by: SoakTests.terminalMinutesPerTap * 60, awaitCorrection: false)
            let card = tap % poolSize
            bench.card.withCard {
                $0 = SimulatedPurseCard(state: pool[card])
                $0.hooks.faults = faults
            }
            var result = try presentAgain()
            // A passenger asked to tap again does, a few times at most.
            var again = 0
            while result.contains("AGAIN") && again < 3 {
                result = try presentAgain()
                again += 1
            }
            let kind = result.split(separator: " ").first.map(String.init) ?? "?"
            outcomes[kind == "DECLINED" ? "DECLINED " + (result.split(separator: "[").last.map { "[" + $0 } ?? "") : kind, default: 0] += 1
            if bench.card.isPresent { try bench.lift() }
            pool[card] = bench.card.withCard { $0.state }
        }
        // Every card once more without faults: recovery settles what a passenger walked away from.
        for card in 0..<poolSize {
            try await bench.advanceClock(by: SoakTests.terminalMinutesPerTap * 60, awaitCorrection: false)
            bench.card.withCard { $0 = SimulatedPurseCard(state: pool[card]) }
            var result = try presentAgain()
            while result.contains("AGAIN") { result = try presentAgain() }
            try bench.lift()
            pool[card] = bench.card.withCard { $0.state }
        }
        let elapsed = ContinuousClock.now - started

        let journal = bench.deliverAndStop()
        let records = try journal.records(after: 0, limit: 100_000).map(\.record)
        let debits = records.filter { $0.kind == .cappPurchase }
        // An entry whose recovery the card's answers left undecidable stays
        // open for a technician (recovery_unresolved); nothing else may.
        let open = try journal.openEntries()
        #expect(open.allSatisfy { $0.state == .unresolved }, "seed \(seed): left open \(open.map { "\($0.state)" })")
        var mismatches = 0
        for (index, state) in pool.enumerated() {
            let number = state.cardNumber.map { String(format: "%02X", $0) }.joined()
            let initial = SoakTests.poolCard(index)
            let lost = Int64(initial.balance) - Int64(state.balance)
            let mine = debits.filter { $0.cardNo == number }
            let journalled = mine.reduce(0) { $0 + Int64($1.amount) }
            // The card's own count of debits: what is not journalled must be among its unresolved entries.
            let unjournalled = Int(state.offlineCounter) - Int(initial.offlineCounter) - mine.count
            let unresolved = open.filter { $0.entry.cardNo == number }.map { Int64($0.entry.amount) }
            let explained = unjournalled >= 0 && unjournalled <= unresolved.count
                && Self.subsets(of: unresolved, size: unjournalled).contains(lost - journalled)
            if !explained {
                mismatches += 1
                print("card \(number): records " + mine.map { "\($0.seq):\($0.amount)@\($0.balanceBefore)c\($0.cardCounter)" }.joined(separator: " ")
                      + "; card counter \(state.offlineCounter), balance \(state.balance); unresolved \(unresolved)")
            }
            #expect(explained, "seed \(seed): card \(number) lost \(lost), the journal holds \(journalled), unresolved \(unresolved)")
        }
        let journalTotal = debits.reduce(0) { $0 + Int64($1.amount) }
        // The platform holds every debit once, save those whose TAC a fault
        // garbled on its way (a recovered proof, a spoiled DEBIT answer): the
        // card paid, the terminal kept what it was told, and the platform
        // refuses the TAC, so the record stands rejected for the back office.
        let summary = try await bench.platform.summary()
        var rejected: [(seq: Int, amount: Int, reason: String)] = []
        for debit in debits {
            guard let state = try journal.uploadState(of: debit.seq) else { continue }
            #expect(state.state != "undelivered", "seed \(seed): record \(debit.seq) never delivered")
            if state.state == "rejected" { rejected.append((debit.seq, debit.amount, state.reason ?? "?")) }
        }
        #expect(rejected.allSatisfy { $0.reason == "tac_invalid" }, "seed \(seed): rejected \(rejected)")
        #expect(summary.debit_amount == Int(journalTotal) - rejected.reduce(0) { $0 + $1.amount },
                "seed \(seed): the platform holds every debit once (journal \(journalTotal), rejected \(rejected))")
        let verified = try bench.pcscd.runTool(["journal", "verify", "--data-dir", bench.data.path])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")

        // The hard cases happened: DEBIT answers spoiled after the card committed, and made up when it did not.
        let log = faults.log
        if mismatches > 0 { print("faults: " + log.map(\.description).joined(separator: "\n")) }
        let debitFaults = log.filter { $0.apdu.count > 1 && $0.apdu[0] == 0x80 && $0.apdu[1] == 0x54 && !isHarmless($0.fault) }
        let committed = debitFaults.filter(\.cardActs).count, notCommitted = debitFaults.count - committed
        #expect(log.count > taps / 10, "seed \(seed): \(log.count) faults in \(taps) taps")
        if taps >= 150 { #expect(committed > 0 && notCommitted > 0, "seed \(seed): both kinds of DEBIT fault happened") }
        print("faulty cards, seed \(seed): \(taps) taps (\(presentations) presentations) in \(elapsed.components.seconds) s, \(log.count) faults, "
              + "\(open.count) left unresolved for a technician, \(rejected.count) rejected by the platform (TAC garbled on the way), "
              + "\(committed) DEBIT answers spoiled after the card committed, \(notCommitted) with the card not acting; outcomes "
              + outcomes.keys.sorted().map { "\($0): \(outcomes[$0]!)" }.joined(separator: ", ")
              + "; money mismatches \(mismatches) (cards lost \(initialTotal - pool.reduce(0) { $0 + Int64($1.balance) }), "
              + "journal \(journalTotal), platform \(summary.debit_amount) fen)")
    }

    /// The sums of every `size`-element subset of `amounts`.
    static func subsets(of amounts: [Int64], size: Int) -> Set<Int64> {
        guard size > 0 else { return [0] }
        guard amounts.count >= size, let first = amounts.first else { return [] }
        let rest = Array(amounts.dropFirst())
        return Set(subsets(of: rest, size: size - 1).map { $0 + first }).union(subsets(of: rest, size: size))
    }

    /// Faults that leave the answer as the card gave it.
    func isHarmless(_ fault: AnswerFault) -> Bool {
        if case .delay = fault { return true }
        return false
    }
}
