import Hex
import ISO7816

/// How recovery (contract §9.3) settled an UNCERTAIN debit.
public enum RecoveryResult: Equatable, Sendable {
    /// The debit committed: GET TRANSACTION PROVE returned its proof. The entry
    /// becomes a record with `recovered: true`; it is never debited again.
    case committed(PurchaseReceipt)
    /// The debit provably did not happen (newest history record is not ours and
    /// the balance is untouched): the entry is FAILED, the card may be served afresh.
    case notCommitted
    /// The card's answers fit neither case: reported, never retried automatically.
    case unresolved(String)
    /// The card went away again: the entry stays UNCERTAIN.
    case noAnswer(String)
}

/// §9.3, right after SELECT, for an UNCERTAIN entry of the card in the field.
struct Recovery {
    let card: CardSession
    let debit: PendingDebit

    func run() -> RecoveryResult {
        // Step 2: ask the card to prove the transaction with counter N + 1.
        let counterAfter = BigEndian.bytes(UInt64(debit.counter) + 1, width: 2)
        let prove = CommandAPDU(cla: 0x80, ins: 0x5A, p1: 0x00, p2: debit.transactionType, data: counterAfter)
        let proof: ResponseAPDU
        do { proof = try card.send(prove) } catch {
            return .noAnswer("GET TRANSACTION PROVE: \(error.detail)")
        }
        if proof.status.isSuccess && proof.data.count == 8 {
            // MAC ‖ TAC: the reverse of DEBIT's TAC ‖ MAC2.
            return .committed(PurchaseReceipt(debit: debit, tac: Array(proof.data[4..<8]), mac2: Array(proof.data[0..<4]),
                                              mac2Verified: false, recovered: true))
        }
        // Step 3: 9406 or anything else: look at the balance and the newest record.
        let balance: UInt32
        let newest: ResponseAPDU
        do {
            balance = UInt32(BigEndian.uint(try card.expect(PurseCommand.getBalance, length: 4)))
            newest = try card.send(PurseCommand.readHistory(1))
        } catch {
            return error.reason == .cardRemoved ? .noAnswer(error.detail) : .unresolved(error.detail)
        }
        let ours = newest.status.isSuccess && newest.data.count == 23 && isOurRecord(newest.data)
        if !ours && balance == debit.balanceBefore {
            return .notCommitted
        }
        return .unresolved("prove answered \(proof.status); balance \(balance), newest record \(newest)")
    }

    /// The detail record our debit would have written (§4.2): counter + 1,
    /// amount, type, terminal and time (the overdraft limit is not ours to know).
    private func isOurRecord(_ record: [UInt8]) -> Bool {
        BigEndian.uint(record[0..<2]) == UInt64(debit.counter) + 1
            && BigEndian.uint(record[5..<9]) == UInt64(debit.amount)
            && record[9] == debit.transactionType
            && Array(record[10..<16]) == debit.terminalNumber
            && Array(record[16..<23]) == debit.time.bytes
    }
}
