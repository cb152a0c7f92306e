import SQLite

/// What the platform said of one delivered record.
public enum DeliveryVerdict: Equatable, Sendable {
    /// Accepted now, or a duplicate of a copy it already holds.
    case delivered
    /// Rejected with the platform's reason: delivered, kept and flagged for audit.
    case rejected(String)
}

/// A closed business day (clearing API §4).
public struct Batch: Equatable, Sendable {
    public var batchNo: Int
    public var firstSeq: Int
    public var lastSeq: Int
    /// Approved debits in the range that the platform did not reject.
    public var count: Int
    public var amount: Int

    public init(batchNo: Int, firstSeq: Int, lastSeq: Int, count: Int, amount: Int) {
        self.batchNo = batchNo
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.count = count
        self.amount = amount
    }
}

/// Store-and-forward bookkeeping: which records the platform has, small
/// persisted settings, and settled batches.
extension Journal {
    /// Undelivered records after `seq`, oldest first, at most `limit`, from the upload cursor.
    public func undelivered(after seq: Int = 0, limit: Int) throws(JournalError) -> [StoredRecord] {
        try read { db in
            let from = max(try Self.uploadCursor(db), seq + 1)
            return try db.rows("SELECT body, hash FROM record WHERE seq >= ? AND upload_state = 'undelivered' ORDER BY seq LIMIT ?",
                               [from, limit]).map { try Self.decode($0) }
        }
    }

    /// Marks what the platform listed for a request, in one transaction. Only
    /// the caller knows what it sent: it passes only seqs that were in the
    /// request. A record already marked keeps its first verdict.
    public func markDelivered(_ verdicts: [Int: DeliveryVerdict]) throws(JournalError) {
        guard !verdicts.isEmpty else { return }
        struct Change { var records = 0; var debitAmount = 0; var oldest: String? }
        try tracked({ db -> Change in
            var change = Change()
            let mark = "UPDATE record SET upload_state = ?, reject_reason = ? WHERE seq = ?"
            for (seq, verdict) in verdicts {
                guard let row = try db.row("SELECT kind, amount FROM record WHERE seq = ? AND upload_state = 'undelivered'", [seq]) else { continue }
                switch verdict {
                case .delivered: try db.run(mark, ["delivered", SQLiteValue.null, seq])
                case .rejected(let reason): try db.run(mark, ["rejected", reason, seq])
                }
                change.records += 1
                if ["purchase", "capp_purchase"].contains(try row.value("kind", as: String.self)) { change.debitAmount += try row.value("amount", as: Int.self) }
            }
            let next = try db.row("SELECT seq, time FROM record WHERE seq >= ? AND upload_state = 'undelivered' ORDER BY seq LIMIT 1",
                                  [try Self.uploadCursor(db)])
            let cursor: Int = try next?.value("seq") ?? db.scalar(Int.self, "SELECT COALESCE(MAX(seq), 0) + 1 FROM record") ?? 1
            try Self.setSetting("upload_cursor", String(cursor), db)
            change.oldest = try next?.value("time")
            return change
        }, then: { exposure, change in
            exposure.records -= change.records
            exposure.debitAmount -= change.debitAmount
            exposure.oldestTime = change.oldest
        })
    }

    /// How a record stands with the platform: `undelivered`, `delivered` or `rejected`, and the reason.
    public func uploadState(of seq: Int) throws(JournalError) -> (state: String, reason: String?)? {
        try read { db in
            try db.row("SELECT upload_state, reject_reason FROM record WHERE seq = ?", [seq])
                .map { (try $0.value("upload_state"), try $0.optional("reject_reason")) }
        }
    }

    static func uploadCursor(_ db: Connection) throws -> Int {
        try db.scalar(Int.self, "SELECT CAST(value AS INTEGER) FROM setting WHERE key = 'upload_cursor'") ?? 0
    }

    // MARK: - Settings

    public func setting(_ key: String) throws(JournalError) -> String? {
        try read { try $0.scalar(String.self, "SELECT value FROM setting WHERE key = ?", [key]) }
    }

    /// Writes several settings atomically (parameters with their ETag, say).
    public func setSettings(_ values: [String: String]) throws(JournalError) {
        try write { db in
            for (key, value) in values { try Self.setSetting(key, value, db) }
        }
        noteSettingsChanged()
    }

    static func setSetting(_ key: String, _ value: String, _ db: Connection) throws {
        try db.run("INSERT OR REPLACE INTO setting (key, value) VALUES (?, ?)", [key, value])
    }

    // MARK: - Batches

    /// The next batch to close: from after the last balanced batch up to the
    /// newest record, with its totals (rejected records left out, as the platform does).
    public func nextBatch() throws(JournalError) -> Batch? {
        try read { db in
            let last = try db.row("SELECT batch_no, last_seq FROM batch WHERE status = 'balanced' ORDER BY batch_no DESC LIMIT 1")
            let open = try db.scalar(Int.self, "SELECT batch_no FROM batch WHERE status = 'unbalanced' ORDER BY batch_no DESC LIMIT 1")
            let first = (try last?.value("last_seq", as: Int.self) ?? 0) + 1
            let lastSeq = try db.scalar(Int.self, "SELECT COALESCE(MAX(seq), 0) FROM record") ?? 0
            guard lastSeq >= first else { return nil }
            let totals = try db.row("""
                SELECT COUNT(*) AS count, COALESCE(SUM(amount), 0) AS amount FROM record
                WHERE seq BETWEEN ? AND ? AND kind IN ('purchase', 'capp_purchase') AND upload_state != 'rejected'
                """, [first, lastSeq])
            return Batch(batchNo: try open ?? ((last?.value("batch_no", as: Int.self) ?? 0) + 1), firstSeq: first, lastSeq: lastSeq,
                         count: try totals?.value("count") ?? 0, amount: try totals?.value("amount") ?? 0)
        }
    }

    /// Records the platform's answer to a settlement.
    public func recordSettlement(_ batch: Batch, balanced: Bool, detail: String?) throws(JournalError) {
        try write { db in
            try db.run("""
                INSERT OR REPLACE INTO batch (batch_no, first_seq, last_seq, count, amount, status, detail) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, [batch.batchNo, batch.firstSeq, batch.lastSeq, batch.count, batch.amount,
                                 balanced ? "balanced" : "unbalanced", detail])
        }
    }

    /// Records by seq (re-sending what a settlement reported missing).
    public func records(seqs: [Int]) throws(JournalError) -> [StoredRecord] {
        try read { db in
            try seqs.sorted().compactMap { seq in
                try db.row("SELECT body, hash FROM record WHERE seq = ?", [seq]).map { try Self.decode($0) }
            }
        }
    }
}

extension Journal {
    static let clockOffsetKey = "clock_offset_s"

    /// Seconds added to the local clock for every transaction time: the
    /// correction taken from the clearing platform's `Date`.
    public var clockOffsetSeconds: Int {
        ((try? setting(Self.clockOffsetKey)) ?? nil).flatMap { Int($0) } ?? 0
    }

    public func setClockOffset(seconds: Int) throws(JournalError) {
        try setSettings([Self.clockOffsetKey: String(seconds)])
    }
}
