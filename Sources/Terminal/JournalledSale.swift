import Hex
import ISO7816
import Journal
import Purse

/// A purchase with its journal: PENDING durable before DEBIT, the record
/// durable before the result is returned (and so before it is shown).
extension Terminal {
    /// One journalled purchase on the next card presented, at `time` read
    /// once the card is there (a wait of seconds must not date the sale early).
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
    public func purchase(amount: UInt32, time: @autoclosure () -> BCDDateTime, timeoutMilliseconds: UInt32, journal: Journal,
                         recoveryWaitMilliseconds: UInt32 = 0,
                         askAgain: (CardNumber) -> Void = { _ in }) throws(SetupError) -> PurchaseOutcome {
        if let fault = journal.fault {
            return .declined(Decline(.journalUnavailable, "journal fault: \(fault)"))
        }
        // The time is read when the card has come, not when the wait for it began.
        let outcome = try withCard(timeoutMilliseconds: timeoutMilliseconds) { purchase(on: $0, amount: amount, time: time(), journal: journal) }
        return settleOnSameCard(outcome, waitMilliseconds: recoveryWaitMilliseconds, journal: journal, askAgain: askAgain) { card, torn in
            purchase(on: card, amount: amount, time: journal.transactionTime(), journal: journal, requiredCard: torn)
        }
    }

    /// One journalled transit tap on the next card presented; a torn tap asks
    /// for the same card again (`askAgain`) and settles by recovery first.
    /// `time` and `pricing` (the most a tap can cost, and the fare) are read
    /// once, when the card has come: parameters a sync stored while the
    /// terminal waited apply to this tap, and never half of them.
    public func tap(time: @autoclosure () -> BCDDateTime, timeoutMilliseconds: UInt32, journal: Journal,
                    recoveryWaitMilliseconds: UInt32 = 0, askAgain: (CardNumber) -> Void = { _ in },
                    pricing: () -> (mostCharged: UInt32, fare: TransitFare)) throws(SetupError) -> PurchaseOutcome {
        var priced: (mostCharged: UInt32, fare: TransitFare)?
        let outcome = try withCard(timeoutMilliseconds: timeoutMilliseconds) {
            let (mostCharged, fare) = pricing()
            priced = (mostCharged, fare)
            return tap(on: $0, time: time(), journal: journal, mostCharged: mostCharged, fare: fare)
        }
        guard let (mostCharged, fare) = priced else { return outcome }
        return settleOnSameCard(outcome, waitMilliseconds: recoveryWaitMilliseconds, journal: journal, askAgain: askAgain) { card, torn in
            tap(on: card, time: journal.transactionTime(), journal: journal, mostCharged: mostCharged, requiredCard: torn, fare: fare)
        }
    }

    /// After an `uncertain` outcome: settles it on the same card within
    /// `waitMilliseconds` (§9.3). Recovery runs at once if the card is still
    /// in the field (a malformed or lost DEBIT answer leaves it there);
    /// otherwise `askAgain` is called once and the card awaited. As long as
    /// the card's torn entry is still open in `journal` (the card pulled
    /// again, another card, recovery itself torn), and when the fresh sale
    /// after a proven non-commit tears too, the terminal keeps asking until
    /// the wait runs out, and then returns the newest torn outcome. Recovery
    /// proving *this* sale committed is this sale's approval: it is returned
    /// as `.approved`, never as an earlier sale.
    func settleOnSameCard(_ outcome: PurchaseOutcome, waitMilliseconds: UInt32, journal: Journal, askAgain: (CardNumber) -> Void,
                          retry: (APDUChannel, CardNumber) -> PurchaseOutcome) -> PurchaseOutcome {
        guard case .uncertain(var torn, _) = outcome, waitMilliseconds > 0 else { return outcome }
        var latest = outcome
        var asked = false
        let deadline = ContinuousClock.now + .milliseconds(Int(waitMilliseconds))
        func millisecondsLeft() -> UInt32 {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return 0 }
            return UInt32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
        }
        /// Asks for the card (once) and waits, bounded, until the one in the field has left.
        func awaitPresentation() -> Bool {
            if !asked {
                askAgain(torn.cardNumber)
                asked = true
            }
            let left = millisecondsLeft()
            guard left > 0 else { return false }
            do { try waitForRemoval(timeoutMilliseconds: left) } catch { return false }
            return true
        }
        while case let left = millisecondsLeft(), left > 0 {
            let again: PurchaseOutcome
            do {
                again = try withCard(timeoutMilliseconds: left) { retry($0, torn.cardNumber) }
            } catch {
                // No card to talk to (it left, or pcscd still lists a card that vanished).
                if awaitPresentation() { continue } else { break }
            }
            if case .uncertain(let newer, _) = again {
                // Settled as not committed, then the fresh sale tore too.
                torn = newer
                latest = again
            }
            if journal.hasUncertainEntry(cardNo: torn.cardNumber.description) {
                // Not settled yet (torn again, the card went away, or another card came).
                if awaitPresentation() { continue } else { break }
            }
            if case .recovered(let receipt) = again, receipt.debit.isTransaction(of: torn) { return .approved(receipt) }
            return again
        }
        return latest
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
        let limits = offlineLimits  // asked once per tap: the live parameters behind it take a lock
        if let unknown = limits.unknown {
            return .declined(Decline(.journalUnavailable, unknown))
        }
        // A re-presented card settles an earlier sale: never refused for limits.
        if requiredCard == nil, let why = limits.refusal(journal.offlineExposure, amount: mostCharged, now: time) {
            return .declined(Decline(.offlineLimit, why))
        }
        let seam = JournalSeam(journal)
        let outcome = run(PurchaseFlow(profiles: configuration.profiles, journal: seam, requiredCard: requiredCard))
        return journalled(outcome, time: time, journal: journal)
    }

    /// Makes `outcome` durable before it is returned (and so before it is
    /// shown): the PENDING entry it names becomes its record, or is marked UNCERTAIN.
    func journalled(_ outcome: PurchaseOutcome, time: BCDDateTime, journal: Journal) -> PurchaseOutcome {
        configuration.recorder?.note("outcome \(outcome.summary)")
        do {
            switch outcome {
            case .approved(let receipt):
                // COMPLETE was made durable by the flow, before anything else was sent.
                if receipt.mac2Alarm { configuration.log("ALARM mac2_unverified: card \(receipt.debit.cardNumber), T \(receipt.debit.terminalSequence)") }
            case .declined(let decline):
                if let pending = decline.pending, let entry = pending.journalEntry {
                    try journal.close(entry: entry, as: ClearingRecord(declined: decline, time: pending.time))
                } else if decline.cardNumber != nil && decline.reason != .notCommitted {
                    try journal.append(ClearingRecord(declined: decline, time: time))
                }
            case .uncertain(let pending, let detail):
                configuration.log("uncertain: card \(pending.cardNumber) counter \(pending.counter): \(detail)")
                if let entry = pending.journalEntry { try journal.mark(entry: entry, .uncertain, detail: detail) }
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
struct JournalSeam: PurchaseJournal {
    let journal: Journal

    init(_ journal: Journal) { self.journal = journal }

    /// Throws when the card has an UNCERTAIN entry that cannot be read back:
    /// serving the card as if it had none could debit it twice.
    func uncertainDebit(of card: CardNumber) throws -> PendingDebit? {
        // Almost every tap has none: the journal answers that from memory.
        guard journal.hasUncertainEntry(cardNo: card.description) else { return nil }
        guard let open = try journal.openEntries().first(where: { $0.state == .uncertain && $0.entry.cardNo == card.description }) else {
            throw JournalError.storage("the UNCERTAIN entry of card \(card) is not in the journal")
        }
        guard var debit = PendingDebit(open.entry) else {
            throw JournalError.storage("UNCERTAIN entry #\(open.id) of card \(card) does not parse")
        }
        debit.journalEntry = open.id
        return debit
    }

    func settle(_ debit: PendingDebit, _ result: RecoveryResult) throws {
        guard let id = debit.journalEntry else { throw JournalError.storage("a torn entry without its id") }
        switch result {
        case .committed(let receipt):
            try journal.close(entry: id, as: ClearingRecord(receipt))
        case .notCommitted:
            let reason = debit.isLoad ? "credit_not_committed" : "debit_not_committed"
            try journal.close(entry: id, as: ClearingRecord(settled: debit, reason: reason, time: journal.transactionTime()))
        case .unresolved(let why):
            try journal.markUnresolved(entry: id, detail: why,
                                       report: ClearingRecord(settled: debit, reason: "recovery_unresolved", time: journal.transactionTime()))
        case .noAnswer:
            break  // still UNCERTAIN
        }
    }

    func recordPending(_ debit: PendingDebit) throws -> Int64? {
        try journal.recordPending(PendingEntry(debit))
    }

    func recordComplete(_ receipt: PurchaseReceipt) throws {
        guard let entry = receipt.debit.journalEntry else {
            throw JournalError.storage("COMPLETE without its PENDING entry")
        }
        try journal.close(entry: entry, as: ClearingRecord(receipt))
    }

    func isHotListed(_ card: CardNumber) throws -> Bool { try journal.isHotListed(card.description) }
}

extension PendingDebit {
    /// Back from the journal's entry; nil if any field is out of its range
    /// (the entry comes from a file: nothing in it may trap).
    init?(_ entry: PendingEntry) {
        guard let number = CardNumber(hex: entry.cardNo), let profile = PurseProfile(rawValue: entry.profile),
              let random = [UInt8](hex: entry.random), let time = BCDDateTime(text: entry.time),
              let terminal = [UInt8](hex: entry.terminalNo),
              let type = UInt8(exactly: entry.txType), let amount = UInt32(exactly: entry.amount),
              let balance = UInt32(exactly: entry.balanceBefore), let counter = UInt16(exactly: entry.cardCounter),
              let keyVersion = UInt8(exactly: entry.keyVersion), let algorithmID = UInt8(exactly: entry.algID),
              let sequence = UInt32(exactly: entry.terminalSeq ?? 0)
        else { return nil }
        self.init(cardNumber: number, profile: profile, transactionType: type, amount: amount, balanceBefore: balance, counter: counter,
                  keyVersion: keyVersion, algorithmID: algorithmID, cardRandom: random, terminalSequence: sequence, time: time,
                  terminalNumber: terminal, composite: entry.composite.flatMap { [UInt8](hex: $0) })
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
                  keyVersion: Int(d.keyVersion), algID: Int(d.algorithmID), tac: receipt.tac.hex,
                  recovered: receipt.recovered ? true : nil)
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
                  amount: 0, balanceBefore: Int(decline.learned?.balance ?? 0),
                  cardCounter: Int(decline.learned?.counter ?? 0), reason: decline.reason.rawValue)
    }
}

extension PurchaseOutcome {
    /// One line for the flight recorder: the result and the card's figures, no secrets.
    var summary: String {
        switch self {
        case .approved(let receipt): "approved \(receipt.debit.amount) card \(receipt.debit.cardNumber)\(receipt.recovered ? " recovered" : "")"
        case .recovered(let receipt): "earlier transaction recovered: \(receipt.debit.amount) card \(receipt.debit.cardNumber)"
        case .declined(let decline): "declined \(decline.reason.rawValue): \(decline.detail)"
        case .uncertain(let pending, let detail): "uncertain card \(pending.cardNumber): \(detail)"
        case .blocked(let block): "blocked card \(block.cardNumber): \(block.reason)"
        }
    }
}
