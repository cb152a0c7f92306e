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
    public func purchase(amount: UInt32, time: BCDDateTime, timeoutMilliseconds: UInt32,
                         journal: Journal) throws(SetupError) -> PurchaseOutcome {
        if let fault = journal.fault {
            return .declined(Decline(.journalUnavailable, "journal fault: \(fault)"))
        }
        return try withCard(timeoutMilliseconds: timeoutMilliseconds) { purchase(on: $0, amount: amount, time: time, journal: journal) }
    }

    /// One journalled purchase on a card already connected.
    public func purchase(on card: APDUChannel, amount: UInt32, time: BCDDateTime, journal: Journal) -> PurchaseOutcome {
        if let fault = journal.fault {
            return .declined(Decline(.journalUnavailable, "journal fault: \(fault)"))
        }
        var entry: Int64?
        let flow = PurchaseFlow(profiles: configuration.profiles) { pending in
            entry = try journal.recordPending(PendingEntry(pending))
        }
        let outcome = flow.run(card: card, psam: psam, amount: amount, time: time)
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
                } else if decline.cardNumber != nil {
                    try journal.append(ClearingRecord(declined: decline, time: time))
                }
            case .uncertain(_, let detail):
                if let entry { try journal.markUncertain(entry: entry, detail: detail) }
            }
        } catch {
            // The card is unchanged (decline) or the entry stays open (uncertain):
            // nothing is lost, but the journal needs attention.
            journalAlarm = "\(error)"
        }
        return outcome
    }
}

extension PendingEntry {
    init(_ debit: PendingDebit) {
        self.init(cardNo: debit.cardNumber.description, profile: debit.profile.rawValue, txType: Int(debit.transactionType),
                  amount: Int(debit.amount), balanceBefore: Int(debit.balanceBefore), cardCounter: Int(debit.counter),
                  keyVersion: Int(debit.keyVersion), algID: Int(debit.algorithmID), random: debit.cardRandom.hex,
                  terminalSeq: Int(debit.terminalSequence), time: debit.time.description, terminalNo: debit.terminalNumber.hex)
    }
}

extension ClearingRecord {
    /// A `purchase` (or `capp_purchase`) record from the card's proof.
    init(_ receipt: PurchaseReceipt) {
        let d = receipt.debit
        self.init(kind: d.transactionType == 0x09 ? .cappPurchase : .purchase, time: d.time.description,
                  cardNo: d.cardNumber.description, amount: Int(d.amount), balanceBefore: Int(d.balanceBefore),
                  cardCounter: Int(d.counter), terminalSeq: Int(d.terminalSequence), txType: Int(d.transactionType),
                  keyVersion: Int(d.keyVersion), algID: Int(d.algorithmID), tac: receipt.tac.hex)
    }

    /// A `declined` record: amount 0, balance and counter as far as learned.
    init(declined decline: Decline, time: BCDDateTime) {
        self.init(kind: .declined, time: time.description, cardNo: decline.cardNumber?.description ?? "",
                  amount: 0, balanceBefore: Int(decline.pending?.balanceBefore ?? 0),
                  cardCounter: Int(decline.pending?.counter ?? 0), reason: decline.reason.rawValue)
    }
}
