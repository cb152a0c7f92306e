import ClearingAPI
import Foundation
import GRDB
import Hex
import IssuerCrypto

/// An answer before it goes on the wire.
public struct Reply: Sendable {
    public var status: Int
    public var body: Data
    public var headers: [(String, String)] = []

    static func json<T: Encodable>(_ value: T, status: Int = 200) -> Reply {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Reply(status: status, body: (try? encoder.encode(value)) ?? Data())
    }

    static func refusal(_ status: Int, _ reason: String) -> Reply { json(Refusal(reason: reason), status: status) }
}

/// The reference clearing platform: the whole contract (clearing API v1) over
/// an SQLite store. It plays the outside system in tests and benchmarks, so it
/// checks everything the real one would: tokens, terminal ids, shapes, the
/// hash chain, every TAC under the test issuer's MTK, load MACs under MLK.
public final class Platform: Sendable {
    let database: DatabaseQueue
    public let faults = FaultSwitch()

    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        database = try DatabaseQueue(path: path, configuration: configuration)
        try database.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        try Self.migrator.migrate(database)
    }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE terminal (id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE);
                CREATE TABLE record (
                    terminal_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, card_no TEXT NOT NULL,
                    amount INTEGER NOT NULL, time TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
                    verdict TEXT NOT NULL, reason TEXT, body TEXT NOT NULL, resent INTEGER NOT NULL DEFAULT 0,
                    PRIMARY KEY (terminal_id, seq)) WITHOUT ROWID;
                CREATE TABLE chain_break (terminal_id TEXT NOT NULL, seq INTEGER NOT NULL, detail TEXT NOT NULL);
                CREATE TABLE hotlist_change (version INTEGER PRIMARY KEY, card_no TEXT NOT NULL,
                    op TEXT NOT NULL CHECK (op IN ('add', 'remove')), listed_at TEXT NOT NULL);
                CREATE INDEX hotlist_change_card ON hotlist_change (card_no, version);
                CREATE TABLE parameters (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT NOT NULL);
                CREATE TABLE load (terminal_id TEXT NOT NULL, card_no TEXT NOT NULL, card_counter INTEGER NOT NULL,
                    random TEXT NOT NULL, amount INTEGER NOT NULL, day TEXT NOT NULL, mac2 TEXT NOT NULL,
                    requests INTEGER NOT NULL DEFAULT 1,
                    PRIMARY KEY (terminal_id, card_no, card_counter, random)) WITHOUT ROWID;
                CREATE TABLE settlement (terminal_id TEXT NOT NULL, batch_no INTEGER NOT NULL, body TEXT NOT NULL,
                    status TEXT NOT NULL, PRIMARY KEY (terminal_id, batch_no));
                """)
            try db.execute(sql: "INSERT INTO parameters (id, body) VALUES (1, ?)", arguments: [String(decoding: try JSONEncoder().encode(Platform.defaultParameters), as: UTF8.self)])
        }
        return migrator
    }()

    /// The contract's example parameters: what a fresh platform publishes.
    public static let defaultParameters = Parameters(
        version: 7, merchantID: "898110000000001", maxPurchase: 50_000, maxBalance: 100_000, maxLoad: 50_000,
        maxLoadsPerDay: 5, maxOfflineRecords: 50_000, maxOfflineAmount: 5_000_000, maxOfflineHours: 168,
        fares: .init(flat: 200, transferWindowSeconds: 5400, transferDiscount: 100))

    // MARK: - Terminals and tokens

    /// Enrols a terminal with its token (stored as its SHA-256 only).
    public func enroll(terminalID: String, token: String) throws {
        try database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO terminal (id, token_sha256) VALUES (?, ?)", arguments: [terminalID, Self.digest(token)])
        }
    }

    static func digest(_ token: String) -> String { Cipher.sha256(Array(token.utf8)).hex }

    public enum Access: Equatable { case allowed, unauthorized, forbidden }

    /// 401 for a missing or unknown token; 403 for a token of another terminal.
    public func access(authorization: String?, terminalID: String?) -> Access {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return .unauthorized }
        let token = String(authorization.dropFirst("Bearer ".count))
        let owner = try? database.read { try String.fetchOne($0, sql: "SELECT id FROM terminal WHERE token_sha256 = ?", arguments: [Self.digest(token)]) }
        guard let owner else { return .unauthorized }
        return owner == terminalID ? .allowed : .forbidden
    }

    // MARK: - Records

    static let recordFields: Set<String> = [
        "seq", "kind", "time", "card_no", "amount", "balance_before", "card_counter", "terminal_seq", "tx_type",
        "key_version", "alg_id", "tac", "recovered", "reason", "prev_hash", "hash",
    ]

    /// `POST /v1/records`.
    public func upload(terminalID: String, body: Data) -> Reply {
        struct Envelope: Decodable { var terminal_id: String; var records: [[String: Scalar]] }
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: body) else { return .refusal(400, "not an upload request") }
        if envelope.records.count > UploadRequest.maxRecords { return Reply(status: 413, body: Data()) }
        guard !envelope.records.isEmpty else { return .refusal(400, "no records") }
        var seqs: [Int] = []
        for fields in envelope.records {
            guard case .integer(let seq)? = fields["seq"], seq >= 1 else { return .refusal(400, "record without a seq") }
            if let last = seqs.last, seq <= last { return .refusal(400, "records not in ascending seq") }
            seqs.append(seq)
        }
        do {
            let answer = try database.write { db in
                var answer = UploadResponse()
                for fields in envelope.records {
                    let seq = seqs[answer.accepted.count + answer.duplicates.count + answer.rejected.count]
                    if let stored = try Row.fetchOne(db.cachedStatement(sql: "SELECT verdict, reason FROM record WHERE terminal_id = ? AND seq = ?"),
                                                     arguments: [terminalID, seq]) {
                        try db.cachedStatement(sql: "UPDATE record SET resent = resent + 1 WHERE terminal_id = ? AND seq = ?").execute(arguments: [terminalID, seq])
                        // Revision 1.1: a re-sent record gets the verdict it got the first
                        // time; a rejected one comes back rejected, with the stored reason.
                        if stored["verdict"] as String == "rejected" {
                            answer.rejected.append(.init(seq: seq, reason: stored["reason"] ?? "malformed"))
                        } else {
                            answer.duplicates.append(seq)
                        }
                        continue
                    }
                    let reason = try verdict(fields, seq: seq, envelopeTerminal: envelope.terminal_id, terminalID: terminalID, db)
                    try store(fields, seq: seq, terminalID: terminalID, reason: reason, db)
                    if let reason { answer.rejected.append(.init(seq: seq, reason: reason)) } else { answer.accepted.append(seq) }
                }
                return answer
            }
            return .json(answer)
        } catch {
            return .refusal(500, "storage: \(error)")
        }
    }

    /// Why a new record is rejected, or nil to accept it.
    private func verdict(_ fields: [String: Scalar], seq: Int, envelopeTerminal: String, terminalID: String, _ db: Database) throws -> String? {
        if envelopeTerminal != terminalID { return "unknown_terminal" }
        guard Set(fields.keys).isSubset(of: Self.recordFields),
              let record = WireRecord(fields),
              Self.wellFormed(record)
        else { return "malformed" }
        let computed = Cipher.sha256(([UInt8](hex: record.prevHash) ?? []) + Canonical.bytes(fields)).hex
        guard computed == record.hash else { return "chain_broken" }
        if seq == 1 {
            guard record.prevHash == String(repeating: "0", count: 64) else { return "chain_broken" }
        } else if let previous = try String.fetchOne(db.cachedStatement(sql: "SELECT hash FROM record WHERE terminal_id = ? AND seq = ?"), arguments: [terminalID, seq - 1]),
                  previous != record.prevHash {
            return "chain_broken"
        }
        let moves = ["purchase", "capp_purchase", "load"].contains(record.kind)
        if moves {
            guard let terminal = [UInt8](hex: terminalID), let tac = record.tac,
                  IssuerKeys.expectedTAC(record, terminalID: terminal)?.hex == tac
            else { return "tac_invalid" }
        }
        if record.kind == "purchase" || record.kind == "capp_purchase",
           let listedAt = try hotListedSince(record.cardNo, db), record.time > listedAt {
            return "blacklisted_card"
        }
        return nil
    }

    static func wellFormed(_ record: WireRecord) -> Bool {
        func hex(_ text: String?, _ count: Int) -> Bool {
            guard let text else { return false }
            return text.utf8.count == count && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x46).contains($0) }
        }
        let debit = record.kind == "purchase" || record.kind == "capp_purchase"
        let moves = debit || record.kind == "load"
        return ["purchase", "capp_purchase", "load", "declined", "card_blocked"].contains(record.kind)
            && record.time.utf8.count == 14 && record.time.utf8.allSatisfy { (0x30...0x39).contains($0) }
            && hex(record.cardNo, 16) && hex(record.prevHash, 64) && hex(record.hash, 64)
            && record.amount >= 0 && (0...65535).contains(record.cardCounter)
            && (!moves || (hex(record.tac, 8) && record.txType != nil && record.keyVersion != nil && record.algID != nil))
            && (!debit || record.terminalSeq != nil)
            && (moves || record.amount == 0)
    }

    private func store(_ fields: [String: Scalar], seq: Int, terminalID: String, reason: String?, _ db: Database) throws {
        func text(_ key: String) -> String {
            if case .string(let value)? = fields[key] { return value }
            return ""
        }
        var amount = 0
        if case .integer(let value)? = fields["amount"] { amount = value }
        let hash = text("hash")
        try db.cachedStatement(sql: """
            INSERT INTO record (terminal_id, seq, kind, card_no, amount, time, prev_hash, hash, verdict, reason, body)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [terminalID, seq, text("kind"), text("card_no"), amount, text("time"), text("prev_hash"), hash,
                             reason == nil ? "accepted" : "rejected", reason, String(decoding: Canonical.bytes(fields), as: UTF8.self)])
        // The gap this record fills: the next record's prev_hash must be this hash.
        if let next = try String.fetchOne(db.cachedStatement(sql: "SELECT prev_hash FROM record WHERE terminal_id = ? AND seq = ?"), arguments: [terminalID, seq + 1]),
           next != hash {
            try db.execute(sql: "INSERT INTO chain_break (terminal_id, seq, detail) VALUES (?, ?, ?)",
                           arguments: [terminalID, seq + 1, "prev_hash does not match record \(seq), which arrived later"])
        }
    }

    // MARK: - Hot list

    /// When `cardNo` entered the hot list (YYYYMMDDhhmmss), if it is on it now.
    private func hotListedSince(_ cardNo: String, _ db: Database) throws -> String? {
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT op, listed_at FROM hotlist_change WHERE card_no = ? ORDER BY version DESC LIMIT 1"), arguments: [cardNo])
        guard let row, (row["op"] as String) == "add" else { return nil }
        return row["listed_at"]
    }

    /// Adds and removes cards as one new version.
    @discardableResult
    public func changeHotList(add: [String], remove: [String], listedAt: String) throws -> Int {
        try database.write { db in
            for (cards, op) in [(add, "add"), (remove, "remove")] {
                for card in cards {
                    try db.execute(sql: "INSERT INTO hotlist_change (card_no, op, listed_at) VALUES (?, ?, ?)", arguments: [card, op, listedAt])
                }
            }
            return try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(version), 0) FROM hotlist_change") ?? 0
        }
    }

    /// `GET /v1/blacklist?since=`: the whole list for 0, else the net changes since.
    public func hotList(since: Int) -> Reply {
        do {
            let update = try database.read { db -> HotListUpdate in
                let version = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(version), 0) FROM hotlist_change") ?? 0
                let rows = try Row.fetchAll(db, sql: "SELECT card_no, op FROM hotlist_change WHERE version > ? ORDER BY version",
                                            arguments: [since == 0 ? 0 : since])
                var last: [String: String] = [:]
                for row in rows { last[row["card_no"]] = row["op"] }
                let added = last.filter { $0.value == "add" }.keys.sorted()
                if since == 0 || since > version { return HotListUpdate(version: version, full: true, add: added, remove: []) }
                return HotListUpdate(version: version, full: false, add: added, remove: last.filter { $0.value == "remove" }.keys.sorted())
            }
            return .json(update)
        } catch {
            return .refusal(500, "storage: \(error)")
        }
    }

    // MARK: - Parameters

    public func parameters() throws -> Parameters {
        try database.read(Self.parameters)
    }

    static func parameters(_ db: Database) throws -> Parameters {
        let body = try String.fetchOne(db, sql: "SELECT body FROM parameters WHERE id = 1") ?? ""
        return try JSONDecoder().decode(Parameters.self, from: Data(body.utf8))
    }

    public func setParameters(_ parameters: Parameters) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE parameters SET body = ? WHERE id = 1", arguments: [String(decoding: try JSONEncoder().encode(parameters), as: UTF8.self)])
        }
    }

    /// `GET /v1/parameters`, with `ETag` and `304` for an unchanged version.
    public func parameters(ifNoneMatch: String?) -> Reply {
        guard let parameters = try? parameters() else { return .refusal(500, "parameters unreadable") }
        let etag = "\"v\(parameters.version)\""
        if ifNoneMatch == etag { return Reply(status: 304, body: Data(), headers: [("ETag", etag)]) }
        var reply = Reply.json(parameters)
        reply.headers.append(("ETag", etag))
        return reply
    }

    // MARK: - Settlement

    /// `POST /v1/settlements`: the platform's totals of accepted debits in the range.
    public func settle(terminalID: String, body: Data) -> Reply {
        guard let request = try? JSONDecoder().decode(SettlementRequest.self, from: body),
              request.firstSeq >= 1, request.lastSeq >= request.firstSeq, request.batchNo >= 1
        else { return .refusal(400, "not a settlement request") }
        guard request.terminalID == terminalID else { return .refusal(400, "terminal_id differs from Terminal-Id") }
        do {
            let answer = try database.write { db -> SettlementResponse in
                let totals = try Row.fetchOne(db, sql: """
                    SELECT COUNT(*) AS count, COALESCE(SUM(amount), 0) AS amount FROM record
                    WHERE terminal_id = ? AND seq BETWEEN ? AND ? AND verdict = 'accepted' AND kind IN ('purchase', 'capp_purchase')
                    """, arguments: [terminalID, request.firstSeq, request.lastSeq])
                let present = Set(try Int.fetchAll(db, sql: "SELECT seq FROM record WHERE terminal_id = ? AND seq BETWEEN ? AND ?",
                                                   arguments: [terminalID, request.firstSeq, request.lastSeq]))
                let missing = (request.firstSeq...request.lastSeq).filter { !present.contains($0) }
                let count: Int = totals?["count"] ?? 0, amount: Int = totals?["amount"] ?? 0
                let balanced = missing.isEmpty && count == request.count && amount == request.amount
                let answer = balanced ? SettlementResponse(status: SettlementResponse.balanced)
                    : SettlementResponse(status: SettlementResponse.unbalanced, count: count, amount: amount, missing: missing)
                try db.execute(sql: "INSERT OR REPLACE INTO settlement (terminal_id, batch_no, body, status) VALUES (?, ?, ?, ?)",
                               arguments: [terminalID, request.batchNo, String(decoding: body, as: UTF8.self), answer.status])
                return answer
            }
            return .json(answer)
        } catch {
            return .refusal(500, "storage: \(error)")
        }
    }

    // MARK: - Loads

    /// `POST /v1/loads`: MAC1 checked under MLK, limits applied, MAC2 issued once per INITIALIZE.
    public func load(terminalID: String, body: Data) -> Reply {
        guard let request = try? JSONDecoder().decode(LoadRequest.self, from: body), request.amount >= 1,
              let time = [UInt8](hex: request.time), time.count == 7, let terminal = [UInt8](hex: terminalID)
        else { return .refusal(400, "not a load request") }
        guard request.terminalID == terminalID else { return .refusal(400, "terminal_id differs from Terminal-Id") }
        do {
            return try database.write { db -> Reply in
                let key: [any DatabaseValueConvertible] = [terminalID, request.cardNo, request.cardCounter, request.random]
                if let mac2 = try String.fetchOne(db, sql: "SELECT mac2 FROM load WHERE terminal_id = ? AND card_no = ? AND card_counter = ? AND random = ?",
                                                  arguments: StatementArguments(key)) {
                    try db.execute(sql: "UPDATE load SET requests = requests + 1 WHERE terminal_id = ? AND card_no = ? AND card_counter = ? AND random = ?",
                                   arguments: StatementArguments(key))
                    return .json(LoadResponse(mac2: mac2))
                }
                guard let session = IssuerKeys.loadSession(request, terminalID: terminal) else { return .refusal(400, "mac1_invalid") }
                let limits = try Self.parameters(db)
                let day = String(request.time.prefix(8))
                let loadsToday = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM load WHERE card_no = ? AND day = ?", arguments: [request.cardNo, day]) ?? 0
                if request.amount > limits.maxLoad || request.balanceBefore + request.amount > limits.maxBalance
                    || loadsToday >= limits.maxLoadsPerDay {
                    return .refusal(402, "limit_exceeded")
                }
                let mac2 = PurseCrypto.loadMAC2(algorithmID: session.alg, sessionKey: session.key, amount: UInt32(truncatingIfNeeded: request.amount), terminal: terminal, time: time).hex
                try db.execute(sql: "INSERT INTO load (terminal_id, card_no, card_counter, random, amount, day, mac2) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               arguments: StatementArguments(key + [request.amount, day, mac2]))
                return .json(LoadResponse(mac2: mac2))
            }
        } catch {
            return .refusal(500, "storage: \(error)")
        }
    }

    // MARK: - What tests and operators look at

    public struct Summary: Codable, Sendable, Equatable {
        public var records: Int
        public var accepted: Int
        public var rejected: [String: Int]
        /// Times a record already stored was sent again (answered as a duplicate).
        public var resent: Int
        public var chainBreaks: Int
        /// Loads booked, and MAC2 requests received for them (a repeat is answered, not booked).
        public var loads: Int
        public var loadRequests: Int
        public var lastSeq: Int
        public var debitAmount: Int

        enum CodingKeys: String, CodingKey {
            case records, accepted, rejected, resent, loads
            case loadRequests = "load_requests", chainBreaks = "chain_breaks", lastSeq = "last_seq", debitAmount = "debit_amount"
        }
    }

    public struct ImportSummary: Equatable, Sendable {
        public var terminalID: String
        public var accepted = 0
        public var duplicates = 0
        public var rejected = 0
    }

    public enum ImportError: Error, CustomStringConvertible {
        case unknownTerminal(String)
        case refused(Int, String)

        public var description: String {
            switch self {
            case .unknownTerminal(let id): "terminal \(id) is not enrolled here"
            case .refused(let status, let why): "records refused (\(status)): \(why)"
            }
        }
    }

    /// A journal export: its MAC checked under the enrolled terminal's token
    /// digest, then its records taken as uploads in batches of 500.
    public func importExport(_ bytes: Data) throws -> ImportSummary {
        let export = try JournalExport(bytes: bytes)
        let terminalID = export.header.terminalID
        guard let digest = try database.read({ try String.fetchOne($0, sql: "SELECT token_sha256 FROM terminal WHERE id = ?", arguments: [terminalID]) }),
              let key = [UInt8](hex: digest)
        else { throw ImportError.unknownTerminal(terminalID) }
        try export.verify(tokenDigest: key)
        struct Envelope: Decodable { var records: [[String: Scalar]] }
        let records = try JSONDecoder().decode(Envelope.self, from: export.body).records
        var summary = ImportSummary(terminalID: terminalID)
        for start in stride(from: 0, to: records.count, by: UploadRequest.maxRecords) {
            struct Batch: Encodable { var terminal_id: String; var records: [[String: Scalar]] }
            let body = try JSONEncoder().encode(Batch(terminal_id: terminalID, records: Array(records[start..<min(start + UploadRequest.maxRecords, records.count)])))
            let reply = upload(terminalID: terminalID, body: body)
            guard reply.status == 200, let answer = try? JSONDecoder().decode(UploadResponse.self, from: reply.body) else {
                throw ImportError.refused(reply.status, String(decoding: reply.body, as: UTF8.self))
            }
            summary.accepted += answer.accepted.count
            summary.duplicates += answer.duplicates.count
            summary.rejected += answer.rejected.count
        }
        return summary
    }

    public func forget(terminalID: String, seq: Int) throws {
        try database.write { try $0.execute(sql: "DELETE FROM record WHERE terminal_id = ? AND seq = ?", arguments: [terminalID, seq]) }
    }

    public func summary(terminalID: String) throws -> Summary {
        try database.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT COUNT(*) AS records, COALESCE(SUM(verdict = 'accepted'), 0) AS accepted, COALESCE(SUM(resent), 0) AS resent,
                       COALESCE(MAX(seq), 0) AS last_seq,
                       COALESCE(SUM(CASE WHEN verdict = 'accepted' AND kind IN ('purchase', 'capp_purchase') THEN amount END), 0) AS debit
                FROM record WHERE terminal_id = ?
                """, arguments: [terminalID])
            var rejected: [String: Int] = [:]
            for reasonRow in try Row.fetchAll(db, sql: "SELECT reason, COUNT(*) AS n FROM record WHERE terminal_id = ? AND verdict = 'rejected' GROUP BY reason",
                                              arguments: [terminalID]) {
                rejected[reasonRow["reason"]] = reasonRow["n"]
            }
            return Summary(records: row?["records"] ?? 0, accepted: row?["accepted"] ?? 0, rejected: rejected, resent: row?["resent"] ?? 0,
                           chainBreaks: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM chain_break WHERE terminal_id = ?", arguments: [terminalID]) ?? 0,
                           loads: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM load WHERE terminal_id = ?", arguments: [terminalID]) ?? 0,
                           loadRequests: try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(requests), 0) FROM load WHERE terminal_id = ?",
                                                          arguments: [terminalID]) ?? 0,
                           lastSeq: row?["last_seq"] ?? 0, debitAmount: row?["debit"] ?? 0)
        }
    }
}
