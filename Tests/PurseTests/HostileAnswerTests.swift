// FoundationEssentials: with Foundation itself, Testing's Foundation overlay is
// linked, and Debian's Swift (the aarch64 build of these suites) ships none.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hex
import ISO7816
@testable import Purse
import Testing
import TestFixtures

/// A seeded property harness over the purchase flow: the contract's card 1
/// sale with one card or PSAM answer mutated (truncated, extended, a bit
/// flipped, another status word, empty, an extra answer), thousands of runs,
/// and on every run the money invariants: no trap; approved only if DEBIT
/// answered `9000` with exactly its response; the PENDING entry recorded
/// before the first DEBIT byte; DEBIT sent at most once (a `6Cxx` retry
/// aside); an approval's figures those of the answers. `POSD_FUZZ_SEED` and
/// `POSD_FUZZ_RUNS` reproduce or lengthen a run. (libFuzzer would need the
/// toolchain's fuzzer runtime in the test build; this harness runs in every
/// `swift test`, seeded, and prints its seed.)
@Suite struct HostileAnswerTests {
    static let v = Vectors.named("card1-purchase-3des", in: "purchase.json")
    static let select = Vectors.named("card1-cu-select", in: "profiles.json").bytes("select_resp")
    static let time = BCDDateTime(v.bytes("datetime"))!

    /// Records what the flow asked of its journal, and when (commands sent so far).
    final class Seam: PurchaseJournal {
        let card: ScriptedLink
        var pendingAt: Int?
        var completed: PurchaseReceipt?
        init(_ card: ScriptedLink) { self.card = card }
        func uncertainDebit(of card: CardNumber) throws -> PendingDebit? { nil }
        func settle(_ debit: PendingDebit, _ result: RecoveryResult) throws {}
        func recordPending(_ debit: PendingDebit) throws -> Int64? {
            pendingAt = card.sent.count
            return 1
        }
        func recordComplete(_ receipt: PurchaseReceipt) throws { completed = receipt }
        func isHotListed(_ card: CardNumber) throws -> Bool { false }
    }

    static func mutate(_ answer: [UInt8], _ random: inout SeededRandom) -> (String, [UInt8]) {
        func byte() -> UInt8 { UInt8(truncatingIfNeeded: random.next()) }
        switch random.next() % 6 {
        case 0: return ("truncated", Array(answer.prefix(Int(random.next() % UInt64(max(1, answer.count))))))
        case 1: return ("extended", answer.dropLast(2) + (0..<(1 + random.next() % 8)).map { _ in byte() } + answer.suffix(2))
        case 2:
            var flipped = answer
            guard !flipped.isEmpty else { return ("flipped", flipped) }
            let at = Int(random.next() % UInt64(flipped.count))
            flipped[at] ^= 1 << UInt8(random.next() % 8)
            return ("bit flipped at \(at)", flipped)
        case 3: return ("status word replaced", answer.dropLast(2) + [byte(), byte()])
        case 4: return ("empty", [])
        default: return ("status word only", [0x90, 0x00])
        }
    }

    @Test func mutatedAnswersNeverMisstateMoney() {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["POSD_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let runs = environment["POSD_FUZZ_RUNS"].flatMap(Int.init) ?? 20_000
        var random = SeededRandom(seed: seed)
        let cardAnswers = [Self.select, [0x6A, 0x88], Self.v.bytes("init_resp"), Self.v.bytes("debit_resp")]
        let psamAnswers = [Self.v.bytes("psam_8070_resp"), [0x90, 0x00]]
        let debitAnswer = Self.v.bytes("debit_resp")
        var outcomes: [String: Int] = [:]
        var violations = 0
        for run in 0..<runs {
            var card = cardAnswers, psam = psamAnswers
            let target = Int(random.next() % UInt64(card.count + psam.count + 1))
            let how: String
            if target == card.count + psam.count {
                let at = Int(random.next() % UInt64(card.count + 1))
                card.insert(Self.mutate(Self.select, &random).1, at: at)
                how = "an extra card answer at \(at)"
            } else if target < card.count {
                let (kind, bytes) = Self.mutate(card[target], &random)
                card[target] = bytes
                how = "card answer \(target) \(kind)"
            } else {
                let (kind, bytes) = Self.mutate(psam[target - card.count], &random)
                psam[target - card.count] = bytes
                how = "PSAM answer \(target - card.count) \(kind)"
            }
            let cardLink = ScriptedLink(card), psamLink = ScriptedLink(psam)
            let seam = Seam(cardLink)
            let psamDevice = PSAM(channel: APDUChannel(psamLink), terminalNumber: Self.v.bytes("terminal_no"), purchaseKeyIndex: 1)
            let outcome = PurchaseFlow(journal: seam).run(card: APDUChannel(cardLink), psam: psamDevice, amount: 250, time: Self.time)

            let debits = cardLink.sent.indices.filter { cardLink.sent[$0].count > 1 && cardLink.sent[$0][1] == 0x54 }
            var broken: [String] = []
            if let first = debits.first, (seam.pendingAt ?? Int.max) > first { broken.append("DEBIT sent before PENDING was recorded") }
            // Sent again only as the card asked, with the length a 6Cxx answer named.
            let resentAsAsked = debits.count == 2 && card.indices.contains(debits[0]) && card[debits[0]].count >= 2
                && card[debits[0]][card[debits[0]].count - 2] == 0x6C
            if debits.count > 1 && !resentAsAsked { broken.append("DEBIT sent \(debits.count) times") }
            switch outcome {
            case .approved(let receipt):
                // The card's answers by command: the n-th command got the n-th scripted answer.
                func answer(to index: Int?) -> [UInt8] { index.map { card.indices.contains($0) ? card[$0] : [] } ?? [] }
                let answered = answer(to: debits.last)  // after a 6Cxx, the answer to the DEBIT sent again
                let initialize = answer(to: cardLink.sent.lastIndex { $0.count > 1 && $0[1] == 0x50 })
                // The terminal cannot judge a TAC (the platform does) or MAC2 (the PSAM does): it must
                // carry exactly what the card answered, and answers of any other shape are no approval.
                if answered.count != debitAnswer.count || answered.suffix(2) != [0x90, 0x00] { broken.append("approved on DEBIT answer \(answered.hex)") }
                if receipt.tac != Array(answered.prefix(4)) { broken.append("TAC \(receipt.tac.hex) is not the card's \(answered.prefix(4).hex)") }
                let mac2Check = psamLink.sent.last { $0.count > 1 && $0[1] == 0x72 }
                if mac2Check.map({ Array($0.dropFirst(5).prefix(4)) }) != Array(answered.dropFirst(4).prefix(4)) { broken.append("MAC2 checked is not the card's") }
                let balance = initialize.count >= 4 ? Int64(BigEndian.uint(initialize.prefix(4))) : -1
                if receipt.debit.amount != 250 || Int64(receipt.debit.balanceBefore) != balance || receipt.balanceAfter != balance - 250 {
                    broken.append("figures \(receipt.debit.amount) from \(receipt.debit.balanceBefore) to \(receipt.balanceAfter), INITIALIZE said \(balance)")
                }
                if seam.completed == nil { broken.append("approved without COMPLETE") }
                outcomes["approved", default: 0] += 1
            case .declined(let decline):
                outcomes["declined \(decline.reason.rawValue)", default: 0] += 1
            case .uncertain:
                if debits.isEmpty { broken.append("uncertain without a DEBIT sent") }
                outcomes["uncertain", default: 0] += 1
            default:
                outcomes["\(outcome)".prefix(20).description, default: 0] += 1
            }
            if !broken.isEmpty {
                violations += 1
                Issue.record("run \(run) (seed \(seed)), \(how): \(broken.joined(separator: "; ")); outcome \(outcome)")
                if violations > 10 { break }
            }
        }
        print("hostile answers, seed \(seed): \(runs) runs, \(violations) invariant violations; outcomes "
              + outcomes.keys.sorted().map { "\($0): \(outcomes[$0]!)" }.joined(separator: ", "))
    }
}
