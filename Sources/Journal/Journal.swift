import Hex
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import SQLite
import Synchronization

/// What the terminal knows just before DEBIT or CREDIT (contract §9.2): the
/// PENDING entry, made durable before the first byte of the command leaves.
public struct PendingEntry: Codable, Equatable, Sendable {
    public var cardNo: String
    public var profile: String
    public var txType: Int
    public var amount: Int
    public var balanceBefore: Int
    /// Offline counter N (purchases) or online counter (loads), before.
    public var cardCounter: Int
    public var keyVersion: Int
    public var algID: Int
    /// Card random R, hex.
    public var random: String
    /// PSAM sequence T (purchases).
    public var terminalSeq: Int?
    public var time: String
    public var terminalNo: String
    /// The composite record written with a CAPP purchase, hex.
    public var composite: String?

    public init(cardNo: String, profile: String, txType: Int, amount: Int, balanceBefore: Int, cardCounter: Int,
                keyVersion: Int, algID: Int, random: String, terminalSeq: Int?, time: String, terminalNo: String,
                composite: String? = nil) {
        self.cardNo = cardNo
        self.profile = profile
        self.txType = txType
        self.amount = amount
        self.balanceBefore = balanceBefore
        self.cardCounter = cardCounter
        self.keyVersion = keyVersion
        self.algID = algID
        self.random = random
        self.terminalSeq = terminalSeq
        self.time = time
        self.terminalNo = terminalNo
        self.composite = composite
    }
}

/// A write-ahead entry that has not become a record yet.
public struct OpenEntry: Equatable, Sendable {
    public enum State: String, Sendable { case pending, uncertain, unresolved }
    public var id: Int64
    public var state: State
    public var entry: PendingEntry
    public var detail: String?
}

/// What the terminal holds undelivered: the measure of its offline limits.
public struct OfflineExposure: Equatable, Sendable {
    /// Undelivered records of every kind.
    public var records = 0
    /// Undelivered debits (`purchase`, `capp_purchase`), in fen.
    public var debitAmount = 0
    /// `time` of the oldest undelivered record.
    public var oldestTime: String?

    public init(records: Int = 0, debitAmount: Int = 0, oldestTime: String? = nil) {
        self.records = records
        self.debitAmount = debitAmount
        self.oldestTime = oldestTime
    }

    mutating func add(_ record: ClearingRecord) {
        records += 1
        if record.kind == .purchase || record.kind == .cappPurchase { debitAmount += record.amount }
        if oldestTime == nil { oldestTime = record.time }
    }
}

/// A record as stored: its canonical body and its hash.
public struct StoredRecord: Equatable, Sendable {
    public var record: ClearingRecord
    public var hash: String
}

public enum JournalError: Error, Equatable, CustomStringConvertible {
    /// The disk is full: nothing was written, nothing already written was lost.
    case diskFull
    /// The journal refuses writes (see `Journal.fault`).
    case fault(String)
    /// Any other storage failure, with SQLite's words.
    case storage(String)

    public var description: String {
        switch self {
        case .diskFull: "journal disk full (sales resume when space is freed)"
        case .fault(let why): "journal fault: \(why)"
        case .storage(let why): "journal storage error: \(why)"
        }
    }
}

/// The terminal's offline journal: every card interaction, durably, in a
/// SHA-256 hash chain the clearing platform verifies, plus the write-ahead
/// entries that make a debit safe against power loss at any instant.
///
/// Storage is SQLite in WAL mode with `synchronous = FULL`, so every commit is
/// on disk before it returns. The chain is checked on open from the last
/// verified checkpoint; any integrity failure puts the journal in a fault
/// state in which it refuses writes (and so the terminal refuses sales) but
/// still reads every record it can, for export.
public final class Journal: Sendable {
    public let directory: URL
    /// Why the journal refuses writes; nil when healthy.
    public let fault: String?
    /// What opening found: PENDING entries turned UNCERTAIN and records verified.
    public let startup: StartupReport

    public struct StartupReport: Equatable, Sendable {
        public var promotedToUncertain = 0
        public var recordsVerified = 0
    }

    private let database: JournalStore?
    let hotListProbe: HotListProbe?
    /// Kept in step with every append (one writer: this object), so a tap
    /// reads it without scanning the records.
    private let exposure = Mutex(OfflineExposure())
    /// Card number of every UNCERTAIN entry, by entry id, kept in step with
    /// the table (one writer: this object), so a tap asks "does this card have
    /// a torn transaction?" without reading the database.
    private let uncertainCards = Mutex<[Int64: String]>([:])
    /// `time` of the newest record, kept in step with every append: the floor
    /// for the next transaction time, read once at open (where a failure is
    /// the fault state), so no tap can fail to read it.
    private let newestTime = Mutex<String?>(nil)
    /// This journal's identity, stored inside the database and in `journal.id`.
    public let identity: String?
    /// Opened only to read (see `init(directory:readOnly:)`).
    public let readOnly: Bool
    /// Counts the changes to the stored settings made through this object (the
    /// one writer), so a running terminal re-reads the parameters only when
    /// store-and-forward has stored new ones.
    private let settingsChanges = Atomic<Int>(0)
    public var settingsGeneration: Int { settingsChanges.load(ordering: .acquiring) }
    func noteSettingsChanged() { settingsChanges.add(1, ordering: .releasing) }

    public static let databaseName = "journal.sqlite"
    /// Written when the journal is created, holding the identity also stored
    /// inside the database. A marker without a database, beside an empty
    /// database, or naming another journal means the journal was lost or
    /// replaced: a fault, never a silent fresh start.
    public static let markerName = "journal.id"
    static let identityKey = "journal_id"

    public var databaseURL: URL { directory.appendingPathComponent(Self.databaseName) }

    /// Opens (or on first use creates) the journal in `directory`. Never
    /// throws: a journal that cannot be trusted opens in the fault state.
    /// With `readOnly` (a technician's tool beside the live terminal, a
    /// flash), nothing is written: no directory or database is created, no
    /// migration, no PENDING entry is touched, the checkpoint stays; a missing
    /// journal is the fault state, and every write throws.
    public init(directory: URL, readOnly: Bool = false) {
        self.directory = directory
        self.readOnly = readOnly
        let databaseURL = directory.appendingPathComponent(Self.databaseName)
        let marker = directory.appendingPathComponent(Self.markerName)
        let fileManager = FileManager.default
        var report = StartupReport()
        var initialExposure = OfflineExposure()
        var initialUncertain: [Int64: String] = [:]
        var initialNewest: String?
        var identity: String?
        var database: JournalStore?
        var fault: String?
        do {
            if readOnly {
                guard fileManager.fileExists(atPath: databaseURL.path) else { throw JournalError.fault("no journal in \(directory.path)") }
            } else {
                try fileManager.createDirectory(at: directory, withIntermediateDirectories: true)
            }
            let marked: String?
            if fileManager.fileExists(atPath: marker.path) {
                guard let text = try? String(contentsOf: marker, encoding: .utf8) else {
                    throw JournalError.fault("\(marker.path) is unreadable")
                }
                marked = text.trimmingWhitespace
            } else {
                marked = nil
            }
            if let marked {
                guard fileManager.fileExists(atPath: databaseURL.path) else {
                    throw JournalError.fault("journal database \(databaseURL.path) is missing")
                }
                // Looked at read-only first: a truncated or replaced file is not even opened for writing.
                try Self.checkHasJournalSchema(databaseURL, marked: marked)
            }
            let pool = try JournalStore(path: databaseURL.path, readOnly: readOnly)
            database = pool
            identity = readOnly ? try Self.storedIdentity(pool, marked: marked) ?? marked
                : try Self.establishIdentity(pool, marked: marked, marker: marker)
            try Self.checkIntegrity(pool)
            if !readOnly {
                report.promotedToUncertain = try pool.write { db in
                    try db.run("UPDATE entry SET state = 'uncertain', detail = 'power lost before the card answered' WHERE state = 'pending'")
                    return db.changes
                }
            }
            report.recordsVerified = try Self.verifyChain(pool, fromCheckpoint: true, advance: !readOnly)
            initialUncertain = try pool.read { db in
                Dictionary(uniqueKeysWithValues: try db.rows("SELECT id, card_no FROM entry WHERE state = 'uncertain'")
                    .map { (try $0.value("id", as: Int64.self), try $0.value("card_no", as: String.self)) })
            }
            initialNewest = try pool.read { try $0.scalar(String.self, "SELECT time FROM record ORDER BY seq DESC LIMIT 1") }
            initialExposure = try pool.read { db in
                // Everything below the upload cursor is delivered: only the rest is scanned.
                let cursor = try Self.uploadCursor(db)
                let row = try db.row("""
                    SELECT COUNT(*) AS records,
                           COALESCE(SUM(CASE WHEN kind IN ('purchase', 'capp_purchase') THEN amount END), 0) AS amount,
                           (SELECT time FROM record WHERE seq >= ?1 AND upload_state = 'undelivered' ORDER BY seq LIMIT 1) AS oldest
                    FROM record WHERE seq >= ?1 AND upload_state = 'undelivered'
                    """, [cursor])
                return OfflineExposure(records: try row?.value("records") ?? 0, debitAmount: try row?.value("amount") ?? 0,
                                       oldestTime: try row?.optional("oldest"))
            }
        } catch let error as JournalError {
            fault = error.description
        } catch {
            fault = "journal unreadable: \(error)"
        }
        self.database = database
        self.fault = fault
        self.startup = report
        self.hotListProbe = database == nil ? nil : HotListProbe(path: databaseURL.path)
        self.identity = identity
        self.exposure.withLock { $0 = initialExposure }
        self.uncertainCards.withLock { $0 = initialUncertain }
        self.newestTime.withLock { $0 = initialNewest }
    }

    /// Checks that the database is the journal `journal.id` names (when there
    /// is a marker) before anything is written to it, migrates it, and returns
    /// its identity. A new journal gets a fresh identity, stored inside the
    /// database first and in the marker after, so a crash in between leaves a
    /// journal whose marker is simply rewritten at the next open.
    private static func checkHasJournalSchema(_ url: URL, marked: String) throws {
        let hasSchema = (try? Connection(path: url.path, readOnly: true)
            .row("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'record'")) != nil
        guard hasSchema else {
            throw JournalError.fault("journal database is empty but \(markerName) names journal \(marked): "
                                     + "it was truncated or replaced; not starting a new chain over it")
        }
    }

    /// The identity stored inside the database (nil: none yet), which must be
    /// the marker's when both exist.
    private static func storedIdentity(_ pool: JournalStore, marked: String?) throws -> String? {
        let stored = try pool.read { try $0.scalar(String.self, "SELECT value FROM setting WHERE key = ?", [identityKey]) }
        if let stored, let marked, stored != marked {
            throw JournalError.fault("journal database is journal \(stored) but \(markerName) names journal \(marked): it was replaced")
        }
        return stored
    }

    private static func establishIdentity(_ pool: JournalStore, marked: String?, marker: URL) throws -> String {
        try pool.write { try migrate($0) }
        switch (try storedIdentity(pool, marked: marked), marked) {
        case (let stored?, _):
            if marked == nil { try Data(stored.utf8).write(to: marker, options: .atomic) }
            return stored
        case (nil, let marked?):
            // A journal made before identities were stored inside it: adopt the marker's.
            try pool.write { try setSetting(identityKey, marked, $0) }
            return marked
        case (nil, nil):
            let fresh = UUID().uuidString
            try pool.write { try setSetting(identityKey, fresh, $0) }
            try Data(fresh.utf8).write(to: marker, options: .atomic)
            return fresh
        }
    }

    /// `time` of the newest record (nil: none yet); no database read.
    public var lastRecordTime: String? { newestTime.withLock { $0 } }

    /// True when `cardNo` has an UNCERTAIN entry; no database read.
    public func hasUncertainEntry(cardNo: String) -> Bool {
        uncertainCards.withLock { $0.values.contains(cardNo) }
    }

    /// The schema, in steps. Each step's name is recorded in `grdb_migrations`
    /// (the table and names GRDB's migrator used before the firmware dropped
    /// GRDB), so a journal made by any earlier firmware opens unchanged.
    static let migrations: [(name: String, sql: String)] = [
        ("v1", """
                CREATE TABLE record (
                    seq INTEGER PRIMARY KEY,
                    kind TEXT NOT NULL,
                    card_no TEXT NOT NULL,
                    amount INTEGER NOT NULL,
                    time TEXT NOT NULL,
                    body TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    upload_state TEXT NOT NULL DEFAULT 'undelivered'
                        CHECK (upload_state IN ('undelivered', 'delivered', 'rejected')),
                    reject_reason TEXT
                );
                CREATE TRIGGER record_undelivered_kept BEFORE DELETE ON record
                    WHEN OLD.upload_state = 'undelivered'
                    BEGIN SELECT RAISE(ABORT, 'undelivered records are never deleted'); END;
                CREATE TRIGGER record_immutable BEFORE UPDATE OF seq, kind, card_no, amount, time, body, hash ON record
                    BEGIN SELECT RAISE(ABORT, 'records are immutable'); END;
                -- No index on upload_state: every index is one more page written per
                -- commit. The uploader walks seq from its cursor instead.

                -- The chain's head is its last record: pruning delivered records must
                -- always keep the newest one, so that seq is never reused.
                -- The last link verified on a previous start (the fast path).
                CREATE TABLE checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);

                CREATE TABLE entry (
                    id INTEGER PRIMARY KEY,
                    state TEXT NOT NULL
                        CHECK (state IN ('pending', 'uncertain', 'unresolved', 'complete', 'failed')),
                    body TEXT NOT NULL,
                    card_no TEXT NOT NULL,
                    record_seq INTEGER,
                    detail TEXT
                );
                -- Entries closed into a record are deleted in the same transaction
                -- (the record carries the proof), so this table stays small.
                """),
        ("v2 hot list", """
                CREATE TABLE hotlist (card_no INTEGER PRIMARY KEY) WITHOUT ROWID;
                CREATE TABLE hotlist_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
                """),
        ("v3 delivery", """
                -- Small values the terminal keeps between starts: parameters and their
                -- ETag, the clock correction, the upload cursor.
                CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                -- Business days closed with the platform (clearing API §4).
                CREATE TABLE batch (
                    batch_no INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
                    count INTEGER NOT NULL, amount INTEGER NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('balanced', 'unbalanced')), detail TEXT
                );
                """),
    ]

    /// Applies the steps not yet recorded, inside the caller's transaction.
    static func migrate(_ db: Connection) throws {
        try db.execute(script: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
        let applied = Set(try db.rows("SELECT identifier FROM grdb_migrations").map { try $0.value("identifier", as: String.self) })
        for step in migrations where !applied.contains(step.name) {
            try db.execute(script: step.sql)
            try db.run("INSERT INTO grdb_migrations (identifier) VALUES (?)", [step.name])
        }
    }

    private static func checkIntegrity(_ pool: JournalStore) throws {
        let result = try pool.read { try $0.rows("PRAGMA quick_check").map { try $0.value("quick_check", as: String.self) } }
        guard result == ["ok"] else {
            throw JournalError.fault("database damaged: \(result.prefix(3).joined(separator: "; "))")
        }
    }

    // MARK: - Writing

    /// Free space below which no new sale starts. A sale needs two commits
    /// (PENDING, then its record); refusing at PENDING while space remains means
    /// a sale already under way can always be finished, so the disk filling up
    /// refuses sales before a card is touched instead of stranding a debit.
    public static let reservedBytes: UInt64 = 1 << 20

    /// Makes a PENDING entry durable. Returns its id for `close` or `markUncertain`.
    public func recordPending(_ entry: PendingEntry) throws(JournalError) -> Int64 {
        if let free = freeBytes, free < Self.reservedBytes { throw .diskFull }
        return try write { db in
            try db.run("INSERT INTO entry (state, body, card_no) VALUES ('pending', ?, ?)", [try Self.json(entry), entry.cardNo])
            return db.lastInsertedRowID
        }
    }

    /// Undelivered records, debits and the oldest one's time, without a scan.
    public var offlineExposure: OfflineExposure { exposure.withLock { $0 } }

    /// The card answered: the entry becomes `record` (approved or declined), atomically.
    @discardableResult
    public func close(entry id: Int64, as record: ClearingRecord) throws(JournalError) -> StoredRecord {
        let stored = try appending(record) { db in
            let stored = try Self.append(record, db)
            if record.kind == .declined {
                // FAILED: kept with its T for audit (a declined record carries no terminal_seq).
                try db.run("UPDATE entry SET state = 'failed', record_seq = ? WHERE id = ?", [stored.record.seq, id])
            } else {
                try db.run("DELETE FROM entry WHERE id = ?", [id])
            }
            return stored
        }
        forgetUncertain(id)  // only once committed: a failed close leaves the entry open
        return stored
    }

    /// UNCERTAIN: DEBIT or CREDIT left and no clear answer came back.
    /// UNRESOLVED: recovery could not decide; reported, never retried.
    public func mark(entry id: Int64, _ state: OpenEntry.State, detail: String) throws(JournalError) {
        let cardNo = try write { db in
            try db.run("UPDATE entry SET state = ?, detail = ? WHERE id = ?", [state.rawValue, detail, id])
            return try db.scalar(String.self, "SELECT card_no FROM entry WHERE id = ?", [id])
        }
        uncertainCards.withLock { $0[id] = state == .uncertain ? cardNo : nil }
    }

    /// UNRESOLVED: recovery could not decide. The entry stays open (never
    /// retried automatically) and `report`, a `declined` record, carries the
    /// case to the platform, which can settle it against the issuer's books.
    @discardableResult
    public func markUnresolved(entry id: Int64, detail: String, report: ClearingRecord) throws(JournalError) -> StoredRecord {
        let stored = try appending(report) { db in
            let stored = try Self.append(report, db)
            try db.run("UPDATE entry SET state = 'unresolved', detail = ?, record_seq = ? WHERE id = ?", [detail, stored.record.seq, id])
            return stored
        }
        forgetUncertain(id)
        return stored
    }

    private func forgetUncertain(_ id: Int64) {
        uncertainCards.withLock { _ = $0.removeValue(forKey: id) }
    }

    /// Appends a record that has no write-ahead entry (a decline before DEBIT).
    @discardableResult
    public func append(_ record: ClearingRecord) throws(JournalError) -> StoredRecord {
        try appending(record) { try Self.append(record, $0) }
    }

    /// Appends several records in one transaction: all of them or none
    /// (bulk restore, and filling benchmark journals to size).
    public func append(contentsOf records: [ClearingRecord]) throws(JournalError) {
        try tracked({ db in
            for record in records { _ = try Self.append(record, db) }
        }, then: { exposure, _ in
            records.forEach { exposure.add($0) }
            if let last = records.last { newestTime.withLock { $0 = last.time } }
        })
    }

    /// A write that adds `record`; the exposure and the newest time follow only once it committed.
    private func appending<T: Sendable>(_ record: ClearingRecord, _ body: (Connection) throws -> T) throws(JournalError) -> T {
        try tracked(body) { exposure, _ in
            exposure.add(record)
            newestTime.withLock { $0 = record.time }
        }
    }

    /// A write that changes what is undelivered. The exposure lock is held
    /// across the commit, so exposure changes apply in commit order (an
    /// append and a delivery racing cannot leave a stale oldest time).
    func tracked<T: Sendable>(_ body: (Connection) throws -> T, then update: (inout OfflineExposure, T) -> Void) throws(JournalError) -> T {
        var result: T?
        try exposure.withLock { (exposure: inout OfflineExposure) throws(JournalError) in
            let value = try write(body)
            update(&exposure, value)
            result = value
        }
        return result!
    }

    private static func append(_ record: ClearingRecord, _ db: Connection) throws -> StoredRecord {
        let head = try db.row("SELECT seq, hash FROM record ORDER BY seq DESC LIMIT 1")
        var chained = record
        chained.seq = (try head?.value("seq", as: Int.self) ?? 0) + 1
        chained.prevHash = try head?.value("hash") ?? ClearingRecord.genesisHash
        let canonical = chained.canonicalBytes
        let hash = ClearingRecord.hash(prevHash: chained.prevHash, canonical: canonical)
        try db.run("INSERT INTO record (seq, kind, card_no, amount, time, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [chained.seq, chained.kind.rawValue, chained.cardNo, chained.amount, chained.time,
                    String(decoding: canonical, as: UTF8.self), hash])
        return StoredRecord(record: chained, hash: hash)
    }

    func write<T: Sendable>(_ body: (Connection) throws -> T) throws(JournalError) -> T {
        if let fault { throw .fault(fault) }
        if readOnly { throw .fault("opened read-only") }
        guard let database else { throw .fault("not open") }
        return try Self.classifying { try database.write(body) }
    }

    /// Runs `body`, its failures as `JournalError`s (a full disk by name).
    static func classifying<T>(_ body: () throws -> T) throws(JournalError) -> T {
        do {
            return try body()
        } catch let error as JournalError {
            throw error
        } catch let error as SQLiteError {
            throw error.isDiskFull ? .diskFull : .storage(error.description)
        } catch {
            throw .storage("\(error)")
        }
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    // MARK: - Reading

    /// Records with `seq` above `after`, ascending, at most `limit`.
    public func records(after seq: Int, limit: Int) throws(JournalError) -> [StoredRecord] {
        try read { db in
            try db.rows("SELECT body, hash FROM record WHERE seq > ? ORDER BY seq LIMIT ?", [seq, limit]).map { try Self.decode($0) }
        }
    }

    /// Entries not yet closed into a record: PENDING (only while a debit is in
    /// flight), UNCERTAIN and UNRESOLVED.
    public func openEntries() throws(JournalError) -> [OpenEntry] {
        try read { db in
            try db.rows("SELECT id, state, body, detail FROM entry WHERE state IN ('pending', 'uncertain', 'unresolved') ORDER BY id")
                .map { row in
                    OpenEntry(id: try row.value("id"), state: OpenEntry.State(rawValue: try row.value("state")) ?? .unresolved,
                              entry: try JSONDecoder().decode(PendingEntry.self, from: Data(try row.value("body", as: String.self).utf8)),
                              detail: try row.optional("detail"))
                }
        }
    }

    /// Bytes available to us on the journal's filesystem (nil if unknown).
    public var freeBytes: UInt64? {
        var stats = statvfs()
        guard statvfs(directory.path, &stats) == 0 else { return nil }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
    }

    public var lastSeq: Int {
        get throws(JournalError) { try read { try $0.scalar(Int.self, "SELECT MAX(seq) FROM record") ?? 0 } }
    }

    public var undeliveredCount: Int {
        get throws(JournalError) { try read { try $0.scalar(Int.self, "SELECT COUNT(*) FROM record WHERE upload_state = 'undelivered'") ?? 0 } }
    }

    /// The writer's `PRAGMA synchronous` (2 = FULL), for tests and diagnostics.
    public var synchronousMode: Int {
        get throws(JournalError) {
            guard let database else { throw .fault(fault ?? "not open") }
            return try Self.classifying { try database.writeWithoutTransaction { try $0.scalar(Int.self, "PRAGMA synchronous") ?? -1 } }
        }
    }

    /// Verifies the whole chain from record 1 (the technician's check; start-up
    /// checks only what was added since the last verified checkpoint).
    /// Returns the number of records checked.
    public func verifyWholeChain() throws(JournalError) -> Int {
        guard let database else { throw .fault(fault ?? "not open") }
        return try Self.classifying { try Self.verifyChain(database, fromCheckpoint: false, advance: !readOnly) }
    }

    func read<T: Sendable>(_ body: (Connection) throws -> T) throws(JournalError) -> T {
        guard let database else { throw .fault(fault ?? "not open") }
        return try Self.classifying { try database.read(body) }
    }

    /// A read outside a transaction: a single statement is its own consistent snapshot.
    func unsafeRead<T: Sendable>(_ body: (Connection) throws -> T) throws(JournalError) -> T {
        guard let database else { throw .fault(fault ?? "not open") }
        return try Self.classifying { try database.unsafeRead(body) }
    }

    static func decode(_ row: Row) throws -> StoredRecord {
        let body: String = try row.value("body")
        do {
            return StoredRecord(record: try JSONDecoder().decode(ClearingRecord.self, from: Data(body.utf8)), hash: try row.value("hash"))
        } catch {
            throw JournalError.fault("record body unreadable: \(body.prefix(80))")
        }
    }

    /// Walks the chain in `seq` order: each record's `seq` follows the last,
    /// its `prev_hash` is the last hash, and its hash recomputes from its body.
    /// Advances the checkpoint.
    static func verifyChain(_ pool: JournalStore, fromCheckpoint: Bool, advance: Bool = true) throws -> Int {
        let start: (seq: Int, hash: String) = try pool.read { db in
            guard fromCheckpoint, let row = try db.row("SELECT seq, hash FROM checkpoint WHERE id = 1") else {
                return (0, ClearingRecord.genesisHash)
            }
            return (try row.value("seq"), try row.value("hash"))
        }
        var last = start
        var checked = 0
        while true {
            let batch = try pool.read { db in
                try db.rows("SELECT seq, body, hash FROM record WHERE seq > ? ORDER BY seq LIMIT 1000", [last.seq])
            }
            for row in batch {
                let seq: Int = try row.value("seq")
                let stored = try decode(row)
                let body: String = try row.value("body")
                guard seq == last.seq + 1, stored.record.seq == seq else {
                    throw JournalError.fault("hash chain broken: record \(seq) follows \(last.seq)")
                }
                guard stored.record.prevHash == last.hash else {
                    throw JournalError.fault("hash chain broken at record \(seq): prev_hash does not match record \(last.seq)")
                }
                guard ClearingRecord.hash(prevHash: last.hash, canonical: Array(body.utf8)) == stored.hash else {
                    throw JournalError.fault("hash chain broken at record \(seq): content does not match its hash")
                }
                last = (seq, stored.hash)
                checked += 1
            }
            if batch.count < 1000 { break }
        }
        if advance && last.seq != start.seq {
            try pool.write { db in
                try db.run("INSERT OR REPLACE INTO checkpoint (id, seq, hash) VALUES (1, ?, ?)", [last.seq, last.hash])
            }
        }
        return checked
    }
}
