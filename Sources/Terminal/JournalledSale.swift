import Hex
import ISO7816
import Journal
import Purse

/// A purchase with its journal: PENDING durable before DEBIT, the record
/// durable before the result is returned (and so before it is shown).
extension Terminal {
    /// One journalled purchase on the next card presented.
    ///
    /// - A journal in its fault state refuses the sale before a card is touched.
    /// - If the record cannot be written after the card answered, the result is
    ///   `uncertain`: the PENDING entry stays and recovery settles it at the next
    ///   start, rather than showing an approval the journal does not hold.
    ///
    /// When the outcome is `uncertain`, the terminal keeps asking for the same
    /// card for up to `recoveryWaitMilliseconds` (calling `askAgain` once), and
    /// runs recovery on it: the torn debit is completed from the card's proof,
    /// or proved not to have happened and the sale made afresh. Other cards are
    /// refused meanwhile. After the wait an entry still open stays UNCERTAIN,
    /// for recovery the next time the card is seen.
    public func purchase(amount: UInt32, time: BCDDateTime, timeoutMilliseconds: UInt32, journal: Journal,
                         recoveryWaitMilliseconds: UInt32 = 0,
                         askAgain: (CardNumber) -> Void = { _ in }) throws(SetupError) -> PurchaseOutcome {
        if let fault = journal.fault {
            return .declined(Decline(.journalUnavailable, "journal fault: \(fault)"))
        }
        let outcome = try withCard(timeoutMilliseconds: timeoutMilliseconds) { purchase(on: $0, amount: amount, time: time, journal: journal) }
        return settleOnSameCard(outcome, waitMilliseconds: recoveryWaitMilliseconds, askAgain: askAgain) { card, torn in
            purchase(on: card, amount: amount, time: journal.transactionTime(), journal: journal, requiredCard: torn)
        }
    }

    /// One journalled transit tap on the next card presented; a torn tap asks
    /// for the same card again (`askAgain`) and settles by recovery first.
    public func tap(time: BCDDateTime, timeoutMilliseconds: UInt32, journal: Journal, mostCharged: UInt32,
                    recoveryWaitMilliseconds: UInt32 = 0, askAgain: (CardNumber) -> Void = { _ in },
                    fare: @escaping TransitFare) throws(SetupError) -> PurchaseOutcome {
        let outcome = try withCard(timeoutMilliseconds: timeoutMilliseconds) {
            tap(on: $0, time: time, journal: journal, mostCharged: mostCharged, fare: fare)
        }
        return settleOnSameCard(outcome, waitMilliseconds: recoveryWaitMilliseconds, askAgain: askAgain) { card, torn in
            tap(on: card, time: journal.transactionTime(), journal: journal, mostCharged: mostCharged, requiredCard: torn, fare: fare)
        }
    }

    /// After an `uncertain` outcome: asks for the same card (calling
    /// `askAgain` once) for up to `waitMilliseconds`, and runs `retry` on it,
    /// which begins with recovery. Other cards, and a card pulled too soon,
    /// are refused and waited past. Any other outcome is returned as it is.
    func settleOnSameCard(_ outcome: PurchaseOutcome, waitMilliseconds: UInt32, askAgain: (CardNumber) -> Void,
                          retry: (APDUChannel, CardNumber) -> PurchaseOutcome) -> PurchaseOutcome {
        guard case .uncertain(let torn, _) = outcome, waitMilliseconds > 0 else { return outcome }
        askAgain(torn.cardNumber)
        let deadline = ContinuousClock.now + .milliseconds(Int(waitMilliseconds))
        while case let left = deadline - ContinuousClock.now, left > .zero {
            let millis = UInt32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            do {
                try waitForRemoval(timeoutMilliseconds: millis)
                let again = try withCard(timeoutMilliseconds: millis) { retry($0, torn.cardNumber) }
                if case .declined(let decline) = again, [.wrongCard, .cardRemoved].contains(decline.reason) { continue }
                return again
            } catch {
                break  // the wait ran out
            }
        }
        return outcome
    }

    /// One journalled purchase on a card already connected.
    public func purchase(on card: APDUChannel, amount: UInt32, time: BCDDateTime, journal: Journal,
                         requiredCard: CardNumber? = nil) -> PurchaseOutcome {
        journalledDebit(time: time, journal: journal, requiredCard: requiredCard, mostCharged: amount) { flow in
            flow.run(card: card, psam: psam, amount: amount, time: time)
        }
    }

    /// One journalled transit tap (CAPP purchase) on a card already connected;
    /// `fare` decides from the card's composite record. `mostCharged` is the
    /// highest fare a tap can cost, for the offline limits.
    public func tap(on card: APDUChannel, time: BCDDateTime, journal: Journal, mostCharged: UInt32, requiredCard: CardNumber? = nil,
                    fare: @escaping TransitFare) -> PurchaseOutcome {
        journalledDebit(time: time, journal: journal, requiredCard: requiredCard, mostCharged: mostCharged) { flow in
            flow.runTransit(card: card, psam: psam, time: time, fare: fare)
        }
    }

    private func journalledDebit(time: BCDDateTime, journal: Journal, requiredCard: CardNumber?, mostCharged: UInt32,
                                 run: (PurchaseFlow) -> PurchaseOutcome) -> PurchaseOutcome {
        if let fault = journal.fault {
            return .declined(Decline(.journalUnavailable, "journal fault: \(fault)"))
        }
        // A re-presented card settles an earlier sale: never refused for limits.
        if requiredCard == nil, let why = offlineLimits.refusal(journal.offlineExposure, amount: mostCharged, now: time) {
            return .declined(Decline(.offlineLimit, why))
        }
        let seam = JournalSeam(journal)
        let outcome = run(PurchaseFlow(profiles: configuration.profiles, journal: seam, requiredCard: requiredCard))
        return journalled(outcome, entry: seam.pendingEntry, time: time, journal: journal)
    }

    /// Makes `outcome` durable before it is returned (and so before it is
    /// shown): the PENDING entry becomes its record, or is marked UNCERTAIN.
    func journalled(_ outcome: PurchaseOutcome, entry: Int64?, time: BCDDateTime, journal: Journal) -> PurchaseOutcome {
        do {
            switch outcome {
            case .approved(let receipt):
                guard let entry else { return outcome }
                do {
                    try journal.close(entry: entry, as: ClearingRecord(receipt))
                } catch {
                    return .uncertain(receipt.debit, detail: "approved by the card but not journalled (\(error)): present the card again")
                }
            case .declined(let decline):
                if let entry, let pending = decline.pending {
                    try journal.close(entry: entry, as: ClearingRecord(declined: decline, time: pending.time))
                } else if decline.cardNumber != nil && decline.reason != .notCommitted {
                    try journal.append(ClearingRecord(declined: decline, time: time))
                }
            case .uncertain(_, let detail):
                if let entry { try journal.mark(entry: entry, .uncertain, detail: detail) }
            case .recovered:
                break  // settled in the journal by the flow, before this
            case .blocked(let block):
                try journal.append(ClearingRecord(block, time: time))
            }
        } catch {
            // The card is unchanged (decline) or the entry stays open (uncertain):
            // nothing is lost, but the journal needs attention.
            journalAlarm = "\(error)"
        }
        return outcome
    }
}

/// The flow's journal seam over the journal: write-ahead entries and the
/// recovery of a card's UNCERTAIN entry.
final class JournalSeam: PurchaseJournal {
    let journal: Journal
    private(set) var pendingEntry: Int64?
    private var uncertain: [PendingDebit: Int64] = [:]

    init(_ journal: Journal) { self.journal = journal }

    func uncertainDebit(of card: CardNumber) -> PendingDebit? {
        // Almost every tap has none: the journal answers that from memory.
        guard journal.hasUncertainEntry(cardNo: card.description),
              let open = try? journal.openEntries().first(where: { $0.state == .uncertain && $0.entry.cardNo == card.description }),
              let debit = PendingDebit(open.entry)
        else { return nil }
        uncertain[debit] = open.id
        return debit
    }

    func settle(_ debit: PendingDebit, _ result: RecoveryResult) throws {
        guard let id = uncertain[debit] else { return }
        switch result {
        case .committed(let receipt):
            var record = ClearingRecord(receipt)
            record.recovered = true
            try journal.close(entry: id, as: record)
        case .notCommitted:
            try journal.close(entry: id, as: ClearingRecord(settled: debit, reason: "debit_not_committed", time: journal.transactionTime()))
        case .unresolved(let why):
            try journal.markUnresolved(entry: id, detail: why,
                                       report: ClearingRecord(settled: debit, reason: "recovery_unresolved", time: journal.transactionTime()))
        case .noAnswer:
            break  // still UNCERTAIN
        }
    }

    func recordPending(_ debit: PendingDebit) throws {
        pendingEntry = try journal.recordPending(PendingEntry(debit))
    }

    func isHotListed(_ card: CardNumber) -> Bool { journal.isHotListed(card.description) }
}

extension PendingDebit {
    /// Back from the journal's entry (nil if the entry does not parse).
    init?(_ entry: PendingEntry) {
        guard let number = CardNumber(hex: entry.cardNo), let profile = PurseProfile(rawValue: entry.profile),
              let random = [UInt8](hex: entry.random), let time = BCDDateTime(text: entry.time),
              let terminal = [UInt8](hex: entry.terminalNo)
        else { return nil }
        self.init(cardNumber: number, profile: profile, transactionType: UInt8(entry.txType), amount: UInt32(entry.amount),
                  balanceBefore: UInt32(entry.balanceBefore), counter: UInt16(entry.cardCounter),
                  keyVersion: UInt8(entry.keyVersion), algorithmID: UInt8(entry.algID), cardRandom: random,
                  terminalSequence: UInt32(entry.terminalSeq ?? 0), time: time, terminalNumber: terminal,
                  composite: entry.composite.flatMap { [UInt8](hex: $0) })
    }
}

extension PendingEntry {
    init(_ debit: PendingDebit) {
        self.init(cardNo: debit.cardNumber.description, profile: debit.profile.rawValue, txType: Int(debit.transactionType),
                  amount: Int(debit.amount), balanceBefore: Int(debit.balanceBefore), cardCounter: Int(debit.counter),
                  keyVersion: Int(debit.keyVersion), algID: Int(debit.algorithmID), random: debit.cardRandom.hex,
                  terminalSeq: Int(debit.terminalSequence), time: debit.time.description, terminalNo: debit.terminalNumber.hex,
                  composite: debit.composite?.hex)
    }
}

extension ClearingRecord {
    /// A `purchase`, `capp_purchase` or `load` record from the card's proof
    /// (a load carries no PSAM sequence; its counter is the online counter).
    init(_ receipt: PurchaseReceipt) {
        let d = receipt.debit
        self.init(kind: d.isLoad ? .load : d.transactionType == 0x09 ? .cappPurchase : .purchase, time: d.time.description,
                  cardNo: d.cardNumber.description, amount: Int(d.amount), balanceBefore: Int(d.balanceBefore),
                  cardCounter: Int(d.counter), terminalSeq: d.isLoad ? nil : Int(d.terminalSequence), txType: Int(d.transactionType),
                  keyVersion: Int(d.keyVersion), algID: Int(d.algorithmID), tac: receipt.tac.hex)
    }

    /// The `card_blocked` record of a hot-listed card, whether or not the block worked.
    init(_ block: CardBlock, time: BCDDateTime) {
        self.init(kind: .cardBlocked, time: time.description, cardNo: block.cardNumber.description, amount: 0,
                  balanceBefore: Int(block.balance ?? 0), cardCounter: 0, reason: block.reason)
    }

    /// The `declined` record that closes a torn transaction recovery settled
    /// as not committed, or reports one it could not decide. Its time is when
    /// that was learned (records never go back in time); the card's counter
    /// before the torn transaction identifies it.
    init(settled debit: PendingDebit, reason: String, time: BCDDateTime) {
        self.init(kind: .declined, time: time.description, cardNo: debit.cardNumber.description, amount: 0,
                  balanceBefore: Int(debit.balanceBefore), cardCounter: Int(debit.counter), reason: reason)
    }

    /// A `declined` record: amount 0, balance and counter as far as learned.
    init(declined decline: Decline, time: BCDDateTime) {
        self.init(kind: .declined, time: time.description, cardNo: decline.cardNumber?.description ?? "",
                  amount: 0, balanceBefore: Int(decline.pending?.balanceBefore ?? 0),
                  cardCounter: Int(decline.pending?.counter ?? 0), reason: decline.reason.rawValue)
    }
}
