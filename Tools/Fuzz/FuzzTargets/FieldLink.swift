import ISO7816
import Purse
import VirtualCards

/// A simulated card in the field, reached in process: what the terminal
/// sent and what arrived for each command.
final class FieldLink<Card: SimulatedCard>: CardLink {
    var card: Card
    private(set) var present = true
    private(set) var sent: [[UInt8]] = []
    /// What arrived for each command sent (nil: nothing, the card left).
    private(set) var delivered: [[UInt8]?] = []

    init(_ card: Card) { self.card = card }

    func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        guard present else { throw .cardRemoved }
        sent.append(command)
        let answer = card.respond(to: command)
        delivered.append(answer)
        guard let answer else {
            present = false
            throw .noAnswer
        }
        return answer
    }

    /// The card taken out and presented again.
    func representCard() {
        card.powerCycle()
        present = true
    }

    /// Indices of the commands sent with this CLA and INS.
    func commands(_ cla: UInt8, _ ins: UInt8) -> [Int] {
        sent.indices.filter { sent[$0].count > 1 && sent[$0][0] == cla && sent[$0][1] == ins }
    }

    /// The answer to command `index` as the terminal came to see it: through
    /// any `61xx` (GET RESPONSE) and `6Cxx` (sent again) rounds that followed
    /// it; empty when nothing usable arrived. Worked out here from the raw
    /// exchanges, independently of the channel under test.
    func response(to index: Int?) -> [UInt8] {
        guard var at = index else { return [] }
        var collected: [UInt8] = []
        while delivered.indices.contains(at), let raw = delivered[at], raw.count >= 2 {
            let sw1 = raw[raw.count - 2]
            guard sw1 == 0x61 || sw1 == 0x6C, at + 1 < sent.count else { return collected + raw }
            if sw1 == 0x61 { collected += raw.dropLast(2) }
            at += 1
        }
        return []
    }
}

/// The journal as the flows see it, recording what was asked and when
/// (how many card commands had been sent by then).
final class RecordingJournal: PurchaseJournal {
    private let commandsSent: () -> Int
    var uncertain: PendingDebit?
    private(set) var pendingAt: [Int] = []
    private(set) var pending: [PendingDebit] = []
    private(set) var completed: [PurchaseReceipt] = []
    private(set) var settled: [RecoveryResult] = []

    init(commandsSent: @escaping () -> Int) { self.commandsSent = commandsSent }

    func uncertainDebit(of card: CardNumber) -> PendingDebit? { uncertain?.cardNumber == card ? uncertain : nil }
    func settle(_ debit: PendingDebit, _ result: RecoveryResult) {
        settled.append(result)
        uncertain = nil
    }
    func recordPending(_ debit: PendingDebit) -> Int64? {
        pendingAt.append(commandsSent())
        pending.append(debit)
        return Int64(pending.count)
    }
    func recordComplete(_ receipt: PurchaseReceipt) { completed.append(receipt) }
    func isHotListed(_ card: CardNumber) -> Bool { false }
}
