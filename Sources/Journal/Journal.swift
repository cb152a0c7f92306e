import Foundation
import GRDB
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

    private let database: DatabasePool?
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
        var database: DatabasePool?
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
                marked = text.trimmingCharacters(in: .whitespacesAndNewlines)
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
            let pool = try Self.openPool(databaseURL, readOnly: readOnly)
            database = pool
            identity = readOnly ? try Self.storedIdentity(pool, marked: marked) ?? marked
                : try Self.establishIdentity(pool, marked: marked, marker: marker)
            try Self.checkIntegrity(pool)
            if !readOnly {
                report.promotedToUncertain = try pool.write { db in
                    try db.execute(sql: "UPDATE entry SET state = 'uncertain', detail = 'power lost before the card answered' WHERE state = 'pending'")
                    return db.changesCount
                }
            }
            report.recordsVerified = try Self.verifyChain(pool, fromCheckpoint: true, advance: !readOnly)
            initialUncertain = try pool.read { db in
                Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, card_no FROM entry WHERE state = 'uncertain'")
                    .map { ($0["id"] as Int64, $0["card_no"] as String) })
            }
            initialNewest = try pool.read { try String.fetchOne($0, sql: "SELECT time FROM record ORDER BY seq DESC LIMIT 1") }
            initialExposure = try pool.read { db in
                // Everything below the upload cursor is delivered: only the rest is scanned.
                let cursor = try Int.fetchOne(db, sql: "SELECT CAST(value AS INTEGER) FROM setting WHERE key = 'upload_cursor'") ?? 0
                let row = try Row.fetchOne(db, sql: """
                    SELECT COUNT(*) AS records,
                           COALESCE(SUM(CASE WHEN kind IN ('purchase', 'capp_purchase') THEN amount END), 0) AS amount,
                           (SELECT time FROM record WHERE seq >= ?1 AND upload_state = 'undelivered' ORDER BY seq LIMIT 1) AS oldest
                    FROM record WHERE seq >= ?1 AND upload_state = 'undelivered'
                    """, arguments: [cursor])
                return OfflineExposure(records: row?["records"] ?? 0, debitAmount: row?["amount"] ?? 0, oldestTime: row?["oldest"])
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
        var configuration = Configuration()
        configuration.readonly = true
        let hasSchema = (try? DatabaseQueue(path: url.path, configuration: configuration).read { try $0.tableExists("record") }) ?? false
        guard hasSchema else {
            throw JournalError.fault("journal database is empty but \(markerName) names journal \(marked): "
                                     + "it was truncated or replaced; not starting a new chain over it")
        }
    }

    /// The identity stored inside the database (nil: none yet), which must be
    /// the marker's when both exist.
    private static func storedIdentity(_ pool: DatabasePool, marked: String?) throws -> String? {
        let stored = try pool.read { try String.fetchOne($0, sql: "SELECT value FROM setting WHERE key = ?", arguments: [identityKey]) }
        if let stored, let marked, stored != marked {
            throw JournalError.fault("journal database is journal \(stored) but \(markerName) names journal \(marked): it was replaced")
        }
        return stored
    }

    private static func establishIdentity(_ pool: DatabasePool, marked: String?, marker: URL) throws -> String {
        try migrator.migrate(pool)
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

    private static func openPool(_ url: URL, readOnly: Bool) throws -> DatabasePool {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.readonly = readOnly
        configuration.prepareDatabase { db in
            // Small pages: a commit writes one WAL frame per page it touches, and a
            // journal commit touches one or two pages; 1 KiB frames sync faster than 4 KiB.
            // Takes effect only when the file is created.
            try db.execute(sql: "PRAGMA page_size = 1024")
            // Reads straight from the mapped file: a hot-list probe costs no
            // read() calls and no copy of the list in the process's heap.
            try db.execute(sql: "PRAGMA mmap_size = 1073741824")
        }
        let pool = try DatabasePool(path: url.path, configuration: configuration)
        if readOnly { return pool }
        // GRDB's pool sets synchronous = NORMAL on its writer after
        // prepareDatabase; FULL must be set afterwards, on the writer itself.
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 128")
        }
        return pool
    }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
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
                """)
        }
        migrator.registerMigration("v2 hot list") { db in
            try db.execute(sql: """
                CREATE TABLE hotlist (card_no INTEGER PRIMARY KEY) WITHOUT ROWID;
                CREATE TABLE hotlist_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
                """)
        }
        migrator.registerMigration("v3 delivery") { db in
            try db.execute(sql: """
                -- Small values the terminal keeps between starts: parameters and their
                -- ETag, the clock correction, the upload cursor.
                CREATE TABLE setting (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                -- Business days closed with the platform (clearing API §4).
                CREATE TABLE batch (
                    batch_no INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL,
                    count INTEGER NOT NULL, amount INTEGER NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('balanced', 'unbalanced')), detail TEXT
                );
                """)
        }
        return migrator
    }()

    private static func checkIntegrity(_ pool: DatabasePool) throws {
        let result = try pool.read { try String.fetchAll($0, sql: "PRAGMA quick_check") }
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
            try db.cachedStatement(sql: "INSERT INTO entry (state, body, card_no) VALUES ('pending', ?, ?)")
                .execute(arguments: [try Self.json(entry), entry.cardNo])
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
                try db.cachedStatement(sql: "UPDATE entry SET state = 'failed', record_seq = ? WHERE id = ?")
                    .execute(arguments: [stored.record.seq, id])
            } else {
                try db.cachedStatement(sql: "DELETE FROM entry WHERE id = ?").execute(arguments: [id])
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
            try db.execute(sql: "UPDATE entry SET state = ?, detail = ? WHERE id = ?", arguments: [state.rawValue, detail, id])
            return try String.fetchOne(db, sql: "SELECT card_no FROM entry WHERE id = ?", arguments: [id])
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
            try db.cachedStatement(sql: "UPDATE entry SET state = 'unresolved', detail = ?, record_seq = ? WHERE id = ?")
                .execute(arguments: [detail, stored.record.seq, id])
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
    private func appending<T>(_ record: ClearingRecord, _ body: (Database) throws -> T) throws(JournalError) -> T {
        try tracked(body) { exposure, _ in
            exposure.add(record)
            newestTime.withLock { $0 = record.time }
        }
    }

    /// A write that changes what is undelivered. The exposure lock is held
    /// across the commit, so exposure changes apply in commit order (an
    /// append and a delivery racing cannot leave a stale oldest time).
    func tracked<T>(_ body: (Database) throws -> T, then update: (inout OfflineExposure, T) -> Void) throws(JournalError) -> T {
        var result: T?
        try exposure.withLock { (exposure: inout OfflineExposure) throws(JournalError) in
            let value = try write(body)
            update(&exposure, value)
            result = value
        }
        return result!
    }

    private static func append(_ record: ClearingRecord, _ db: Database) throws -> StoredRecord {
        let head = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash FROM record ORDER BY seq DESC LIMIT 1"))
        var chained = record
        chained.seq = (head?["seq"] as Int? ?? 0) + 1
        chained.prevHash = head?["hash"] ?? ClearingRecord.genesisHash
        let canonical = chained.canonicalBytes
        let hash = ClearingRecord.hash(prevHash: chained.prevHash, canonical: canonical)
        try db.cachedStatement(sql: "INSERT INTO record (seq, kind, card_no, amount, time, body, hash) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [chained.seq, chained.kind.rawValue, chained.cardNo, chained.amount, chained.time,
                                 String(decoding: canonical, as: UTF8.self), hash])
        return StoredRecord(record: chained, hash: hash)
    }

    func write<T>(_ body: (Database) throws -> T) throws(JournalError) -> T {
        if let fault { throw .fault(fault) }
        if readOnly { throw .fault("opened read-only") }
        guard let database else { throw .fault("not open") }
        do {
            return try database.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as DatabaseError {
            throw Self.classify(error)
        } catch {
            throw .storage("\(error)")
        }
    }

    static func classify(_ error: DatabaseError) -> JournalError {
        switch error.resultCode {
        case .SQLITE_FULL: .diskFull
        default: .storage(error.description)
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
            try Row.fetchAll(db, sql: "SELECT body, hash FROM record WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
                .map { try Self.decode($0) }
        }
    }

    /// Entries not yet closed into a record: PENDING (only while a debit is in
    /// flight), UNCERTAIN and UNRESOLVED.
    public func openEntries() throws(JournalError) -> [OpenEntry] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, state, body, detail FROM entry WHERE state IN ('pending', 'uncertain', 'unresolved') ORDER BY id")
                .map { row in
                    OpenEntry(id: row["id"], state: OpenEntry.State(rawValue: row["state"]) ?? .unresolved,
                              entry: try JSONDecoder().decode(PendingEntry.self, from: Data((row["body"] as String).utf8)),
                              detail: row["detail"])
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
        get throws(JournalError) { try read { try Int.fetchOne($0, sql: "SELECT MAX(seq) FROM record") ?? 0 } }
    }

    public var undeliveredCount: Int {
        get throws(JournalError) { try read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM record WHERE upload_state = 'undelivered'") ?? 0 } }
    }

    /// The writer's `PRAGMA synchronous` (2 = FULL), for tests and diagnostics.
    public var synchronousMode: Int {
        get throws(JournalError) {
            guard let database else { throw .fault(fault ?? "not open") }
            do { return try database.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") ?? -1 } } catch {
                throw .storage("\(error)")
            }
        }
    }

    /// Verifies the whole chain from record 1 (the technician's check; start-up
    /// checks only what was added since the last verified checkpoint).
    /// Returns the number of records checked.
    public func verifyWholeChain() throws(JournalError) -> Int {
        guard let database else { throw .fault(fault ?? "not open") }
        do { return try Self.verifyChain(database, fromCheckpoint: false, advance: !readOnly) } catch let error as JournalError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws(JournalError) -> T {
        guard let database else { throw .fault(fault ?? "not open") }
        do {
            return try database.read(body)
        } catch let error as DatabaseError {
            throw Self.classify(error)
        } catch let error as JournalError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    /// A read outside a transaction: a single statement is its own consistent snapshot.
    func unsafeRead<T>(_ body: (Database) throws -> T) throws -> T {
        guard let database else { throw JournalError.fault(fault ?? "not open") }
        return try database.unsafeRead(body)
    }

    static func decode(_ row: Row) throws -> StoredRecord {
        let body: String = row["body"]
        do {
            return StoredRecord(record: try JSONDecoder().decode(ClearingRecord.self, from: Data(body.utf8)), hash: row["hash"])
        } catch {
            throw JournalError.fault("record body unreadable: \(body.prefix(80))")
        }
    }

    /// Walks the chain in `seq` order: each record's `seq` follows the last,
    /// its `prev_hash` is the last hash, and its hash recomputes from its body.
    /// Advances the checkpoint.
    static func verifyChain(_ pool: DatabasePool, fromCheckpoint: Bool, advance: Bool = true) throws -> Int {
        let start: (seq: Int, hash: String) = try pool.read { db in
            guard fromCheckpoint, let row = try Row.fetchOne(db, sql: "SELECT seq, hash FROM checkpoint WHERE id = 1") else {
                return (0, ClearingRecord.genesisHash)
            }
            return (row["seq"], row["hash"])
        }
        var last = start
        var checked = 0
        while true {
            let batch = try pool.read { db in
                try Row.fetchAll(db, sql: "SELECT seq, body, hash FROM record WHERE seq > ? ORDER BY seq LIMIT 1000", arguments: [last.seq])
            }
            for row in batch {
                let seq: Int = row["seq"]
                let stored = try decode(row)
                let body: String = row["body"]
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
                try db.execute(sql: "INSERT OR REPLACE INTO checkpoint (id, seq, hash) VALUES (1, ?, ?)", arguments: [last.seq, last.hash])
            }
        }
        return checked
    }
}
