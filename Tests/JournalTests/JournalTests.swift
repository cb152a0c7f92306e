import Foundation
import GRDB
@testable import Journal
import Testing
import TestSupport

@Suite struct ChainFormatTests {
    struct Link {
        var seq: Int
        var prevHash: String
        var canonical: String
        var hash: String
        /// The record's content (no seq, no prev_hash), as the journal is given it.
        var content: ClearingRecord
    }

    /// `Tests/Fixtures/journal/chain.json` comes from Python's json and hashlib
    /// (make_chain.py), the way the clearing platform recomputes records.
    static let chain: [Link] = {
        let url = Vectors.directory.deletingLastPathComponent().appendingPathComponent("journal/chain.json")
        let links = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [[String: Any]]
        return links.map { link in
            var fields = link["content"] as! [String: Any]
            fields["seq"] = 0
            fields["prev_hash"] = ""
            let content = try! JSONDecoder().decode(ClearingRecord.self, from: JSONSerialization.data(withJSONObject: fields))
            return Link(seq: link["seq"] as! Int, prevHash: link["prev_hash"] as! String, canonical: link["canonical"] as! String,
                        hash: link["hash"] as! String, content: content)
        }
    }()

    @Test func canonicalBytesAndHashesMatchAnIndependentComputation() throws {
        for link in Self.chain {
            var record = link.content
            record.seq = link.seq
            record.prevHash = link.prevHash
            #expect(String(decoding: record.canonicalBytes, as: UTF8.self) == link.canonical, "seq \(link.seq)")
            #expect(ClearingRecord.hash(prevHash: link.prevHash, canonical: record.canonicalBytes) == link.hash)
        }
    }

    @Test func journalBuildsTheSameChain() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        for link in Self.chain {
            let stored = try journal.append(link.content)
            #expect(stored.record.seq == link.seq)
            #expect(stored.record.prevHash == link.prevHash)
            #expect(stored.hash == link.hash)
        }
    }
}

@Suite struct JournalTests {
    static let entry = PendingEntry(cardNo: "8888000000000001", profile: "CU", txType: 6, amount: 250, balanceBefore: 10000,
                                    cardCounter: 5, keyVersion: 1, algID: 0, random: "7E3A91C4", terminalSeq: 257,
                                    time: "20261122140305", terminalNo: "112233445566")
    static let purchase = ClearingRecord(kind: .purchase, time: "20261122140305", cardNo: "8888000000000001", amount: 250,
                                         balanceBefore: 10000, cardCounter: 5, terminalSeq: 257, txType: 6, keyVersion: 1,
                                         algID: 0, tac: "CF7A5750")

    @Test func commitsAreDurableWAL() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        #expect(journal.fault == nil)
        #expect(try journal.synchronousMode == 2, "synchronous must read back FULL")
        let mode = try DatabaseQueue(path: journal.databaseURL.path).read { try String.fetchOne($0, sql: "PRAGMA journal_mode") }
        #expect(mode == "wal")
    }

    @Test func seqIsGaplessFromOneAndEntriesCloseIntoRecords() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        let first = try journal.recordPending(Self.entry)
        #expect(try journal.openEntries().map(\.state) == [.pending])
        let stored = try journal.close(entry: first, as: Self.purchase)
        #expect(stored.record.seq == 1)
        #expect(try journal.openEntries().isEmpty)
        let second = try journal.recordPending(Self.entry)
        try journal.mark(entry: second, .uncertain, detail: "no answer")
        let third = try journal.append(ClearingRecord(kind: .declined, time: "20261122140400", cardNo: "8888000000000001",
                                                      amount: 0, balanceBefore: 0, cardCounter: 0, reason: "expired"))
        #expect(third.record.seq == 2)
        #expect(try journal.records(after: 0, limit: 10).map(\.record.seq) == [1, 2])
        #expect(try journal.openEntries().map(\.state) == [.uncertain])
        #expect(try journal.undeliveredCount == 2)
    }

    /// An entry recovery could not decide stays open, and a `declined` record
    /// carries it to the platform in the same transaction.
    @Test func unresolvedEntryIsReportedForUpload() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        let entry = try journal.recordPending(Self.entry)
        try journal.mark(entry: entry, .uncertain, detail: "no answer")
        #expect(journal.hasUncertainEntry(cardNo: Self.entry.cardNo))
        let report = ClearingRecord(kind: .declined, time: "20261122150000", cardNo: "8888000000000001", amount: 0,
                                    balanceBefore: 10000, cardCounter: 5, reason: "recovery_unresolved")
        let stored = try journal.markUnresolved(entry: entry, detail: "balance moved, history not ours", report: report)
        #expect(stored.record.seq == 1)
        #expect(try journal.openEntries().map(\.state) == [.unresolved])
        #expect(!journal.hasUncertainEntry(cardNo: Self.entry.cardNo), "UNRESOLVED is never retried")
        #expect(try journal.undelivered(limit: 10).map(\.record.reason) == ["recovery_unresolved"])
        #expect(journal.offlineExposure.records == 1)
    }

    /// Delivery marks only what it is told, moves the upload cursor past
    /// delivered records, and brings the offline exposure down with it.
    @Test func deliveryMarksRecordsAndLowersTheExposure() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var journal = Journal(directory: dir.url)
        try journal.append(contentsOf: (0..<5).map { _ in Self.purchase })
        #expect(journal.offlineExposure == OfflineExposure(records: 5, debitAmount: 1250, oldestTime: "20261122140305"))
        try journal.markDelivered([1: .delivered, 2: .rejected("tac_invalid"), 4: .delivered])
        #expect(journal.offlineExposure == OfflineExposure(records: 2, debitAmount: 500, oldestTime: "20261122140305"))
        #expect(try journal.undelivered(limit: 10).map(\.record.seq) == [3, 5])
        #expect(try journal.uploadState(of: 2)?.reason == "tac_invalid")
        try journal.markDelivered([2: .delivered])  // a verdict, once given, stays
        #expect(try journal.uploadState(of: 2)?.state == "rejected")

        journal = Journal(directory: dir.url)  // the exposure after a restart starts from the cursor
        #expect(journal.offlineExposure == OfflineExposure(records: 2, debitAmount: 500, oldestTime: "20261122140305"))
        try journal.markDelivered([3: .delivered, 5: .delivered])
        #expect(journal.offlineExposure == OfflineExposure())
        #expect(try journal.undelivered(limit: 10).isEmpty)
    }

    @Test func pendingBecomesUncertainAtStart() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        _ = try Journal(directory: dir.url).recordPending(Self.entry)
        let reopened = Journal(directory: dir.url)
        #expect(reopened.startup.promotedToUncertain == 1)
        let open = try reopened.openEntries()
        #expect(open.map(\.state) == [.uncertain])
        #expect(reopened.hasUncertainEntry(cardNo: Self.entry.cardNo), "known without a read at every tap")
        #expect(!reopened.hasUncertainEntry(cardNo: "8888000000000002"))
        _ = try reopened.close(entry: open[0].id, as: Self.purchase)
        #expect(!reopened.hasUncertainEntry(cardNo: Self.entry.cardNo))
        #expect(open.first?.entry == Self.entry)
    }

    @Test func undeliveredRecordsCannotBeDeletedNorChanged() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        try journal.append(Self.purchase)
        let raw = try DatabaseQueue(path: journal.databaseURL.path)
        #expect(throws: DatabaseError.self) { try raw.write { try $0.execute(sql: "DELETE FROM record") } }
        #expect(throws: DatabaseError.self) { try raw.write { try $0.execute(sql: "UPDATE record SET amount = 1") } }
    }

    @Test func tamperedRecordPutsTheJournalInFault() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        try journal.append(Self.purchase)
        try journal.append(Self.purchase)
        // Someone with the file edits an amount, bypassing the triggers.
        let raw = try DatabaseQueue(path: journal.databaseURL.path)
        try raw.write { db in
            try db.execute(sql: "DROP TRIGGER record_immutable")
            try db.execute(sql: "UPDATE record SET body = replace(body, '\"amount\":250', '\"amount\":25') WHERE seq = 2")
        }
        let reopened = Journal(directory: dir.url)
        #expect(reopened.fault?.contains("hash chain broken at record 2") == true, "\(reopened.fault ?? "no fault")")
        #expect(throws: JournalError.self) { try reopened.recordPending(Self.entry) }
        #expect(try reopened.records(after: 0, limit: 10).count == 2, "every readable record stays readable for export")
    }

    @Test func tamperingBeforeTheCheckpointIsFoundByTheFullCheck() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        try journal.append(Self.purchase)
        _ = Journal(directory: dir.url)  // a start verifies record 1 and checkpoints it
        let raw = try DatabaseQueue(path: journal.databaseURL.path)
        try raw.write { db in
            try db.execute(sql: "DROP TRIGGER record_immutable")
            try db.execute(sql: "UPDATE record SET body = replace(body, '\"amount\":250', '\"amount\":25') WHERE seq = 1")
        }
        let reopened = Journal(directory: dir.url)
        #expect(reopened.fault == nil, "the start-up fast path reads only past the checkpoint")
        #expect(throws: JournalError.self) { try reopened.verifyWholeChain() }
    }

    @Test func corruptDatabaseFileIsAFault() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            let journal = Journal(directory: dir.url)
            for _ in 0..<200 { try journal.append(Self.purchase) }
        }
        // Fold the WAL into the main file, then smash a page in the middle.
        let url = dir.url.appendingPathComponent(Journal.databaseName)
        try DatabaseQueue(path: url.path).writeWithoutTransaction { try $0.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        let handle = try FileHandle(forUpdating: url)
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        handle.write(Data(repeating: 0xA5, count: 4096))
        try handle.close()
        let reopened = Journal(directory: dir.url)
        #expect(reopened.fault != nil)
        #expect(throws: JournalError.self) { try reopened.recordPending(Self.entry) }
    }

    /// Firmware before the journal dropped GRDB made this journal (two
    /// purchases, by `posd purchase`); a terminal flashed with this firmware
    /// must open it as it is and go on with its chain.
    @Test func aJournalMadeByEarlierFirmwareOpensAndGoesOn() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = Vectors.directory.deletingLastPathComponent().appendingPathComponent("journal/made-by-grdb")
        for name in [Journal.databaseName, Journal.markerName] {
            try FileManager.default.copyItem(at: made.appendingPathComponent(name), to: dir.url.appendingPathComponent(name))
        }
        let journal = Journal(directory: dir.url)
        #expect(journal.fault == nil, "\(journal.fault ?? "")")
        #expect(try journal.verifyWholeChain() == 2)
        #expect(try journal.undelivered(limit: 10).map(\.record.amount) == [100, 250])
        let third = try journal.append(Self.purchase)
        #expect(third.record.seq == 3)
        #expect(try Journal(directory: dir.url).verifyWholeChain() == 3)
    }

    /// A column holding another type than the schema's (a damaged or edited
    /// file) is a fault with SQLite's words, never a trap.
    @Test func aColumnOfTheWrongTypeIsAFaultNotATrap() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        try journal.append(Self.purchase)
        _ = Journal(directory: dir.url)  // a start verifies record 1 and checkpoints it
        try DatabaseQueue(path: journal.databaseURL.path).write { try $0.execute(sql: "UPDATE checkpoint SET seq = 'one'") }
        let reopened = Journal(directory: dir.url)
        #expect(reopened.fault?.contains("column seq holds text, not Int") == true, "\(reopened.fault ?? "no fault")")
        #expect(throws: JournalError.self) { try reopened.recordPending(Self.entry) }
    }

    @Test func missingDatabaseIsAFaultNotAFreshStart() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Journal(directory: dir.url).append(Self.purchase)
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(at: dir.url.appendingPathComponent(Journal.databaseName + suffix))
        }
        let reopened = Journal(directory: dir.url)
        #expect(reopened.fault?.contains("missing") == true)
        #expect(!FileManager.default.fileExists(atPath: reopened.databaseURL.path), "no empty journal is created in its place")
    }

    /// The database beside `journal.id` truncated to nothing, replaced by an
    /// empty SQLite database, or replaced by another terminal's journal: each
    /// is the fault state, nothing is written into it, and no new chain starts.
    @Test(arguments: ["truncated", "empty database", "another journal"])
    func aReplacedDatabaseIsAFault(_ replacement: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let original = Journal(directory: dir.url)
        try original.append(Self.purchase)
        #expect(original.identity != nil)
        let other = try TemporaryDirectory()
        defer { other.remove() }
        try Journal(directory: other.url).append(Self.purchase)

        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(at: dir.url.appendingPathComponent(Journal.databaseName + suffix)) }
        let database = dir.url.appendingPathComponent(Journal.databaseName)
        try FileManager.default.removeItem(at: database)
        switch replacement {
        case "truncated":
            try Data().write(to: database)
        case "empty database":
            try DatabaseQueue(path: database.path).write { try $0.execute(sql: "CREATE TABLE unrelated (x)") }
        default:
            try DatabaseQueue(path: other.url.appendingPathComponent(Journal.databaseName).path).backup(to: DatabaseQueue(path: database.path))
        }
        let sizeBefore = try FileManager.default.attributesOfItem(atPath: database.path)[.size] as? Int

        let reopened = Journal(directory: dir.url)
        let fault = try #require(reopened.fault, "\(replacement)")
        #expect(fault.contains(replacement == "another journal" ? "it was replaced" : "truncated or replaced"), "\(fault)")
        #expect(throws: JournalError.self) { try reopened.append(Self.purchase) }
        #expect(try FileManager.default.attributesOfItem(atPath: database.path)[.size] as? Int == sizeBefore, "nothing written into it")
    }

    /// A journal made before identities were kept inside the database adopts
    /// its marker's; a lost marker is written back from the database.
    @Test func identityIsAdoptedAndRestored() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let identity = try #require(Journal(directory: dir.url).identity)
        let marker = dir.url.appendingPathComponent(Journal.markerName)
        try FileManager.default.removeItem(at: marker)
        #expect(Journal(directory: dir.url).fault == nil)
        #expect(try String(contentsOf: marker, encoding: .utf8) == identity, "the marker is written back")

        try DatabaseQueue(path: dir.url.appendingPathComponent(Journal.databaseName).path).write {
            try $0.execute(sql: "DELETE FROM setting WHERE key = 'journal_id'")
        }
        let adopted = Journal(directory: dir.url)
        #expect(adopted.fault == nil && adopted.identity == identity)
    }

    /// SQLite's own "disk full" (the backstop behind the reserve): reported as
    /// such, and nothing already written is lost.
    @Test func sqliteFullIsReportedAndLosesNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let disk = try SmallDisk(at: dir.url.appendingPathComponent("disk"), kilobytes: 1024)
        defer { disk.unmount() }
        let journal = Journal(directory: disk.mountPoint.appendingPathComponent("data"))
        try journal.append(Self.purchase)
        try disk.fill()
        var written = 1
        var failure: JournalError?
        for _ in 0..<10_000 {
            do {
                try journal.append(Self.purchase)
                written += 1
            } catch {
                failure = error
                break
            }
        }
        #expect(failure == .diskFull)
        #expect(throws: JournalError.diskFull) { try journal.recordPending(Self.entry) }
        try disk.emptyFiller()
        let reopened = Journal(directory: disk.mountPoint.appendingPathComponent("data"))
        #expect(reopened.fault == nil)
        #expect(try reopened.verifyWholeChain() == written)
    }
}

@Suite struct HotListTests {
    @Test func fullThenDeltaUpdatesWithTheirVersion() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        #expect(try journal.hotListVersion == 0)
        try journal.applyHotList(version: 41, full: true, add: ["8888000000000001", "8888000000000002"], remove: [])
        #expect(try journal.isHotListed("8888000000000001"))
        #expect(try !journal.isHotListed("8888000000000003"))
        try journal.applyHotList(version: 42, full: false, add: ["8888000000000003"], remove: ["8888000000000001"])
        #expect(try !journal.isHotListed("8888000000000001"))
        #expect(try journal.isHotListed("8888000000000002") && journal.isHotListed("8888000000000003"))
        #expect(try journal.hotListVersion == 42)
        try journal.applyHotList(version: 50, full: true, add: ["FFFFFFFFFFFFFFFF"], remove: [])
        #expect(try journal.hotListCount == 1)
        #expect(try journal.isHotListed("FFFFFFFFFFFFFFFF"), "numbers above Int64.max are keys too")
        #expect(try Journal(directory: dir.url).isHotListed("FFFFFFFFFFFFFFFF"), "kept across restarts")
    }

    @Test func malformedUpdateChangesNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let journal = Journal(directory: dir.url)
        try journal.applyHotList(version: 1, full: true, add: ["8888000000000001"], remove: [])
        #expect(throws: JournalError.self) {
            try journal.applyHotList(version: 2, full: true, add: ["8888000000000002", "not-a-card"], remove: [])
        }
        #expect(try journal.isHotListed("8888000000000001"))
        #expect(try journal.hotListVersion == 1)
    }
}
