import Foundation
import SQLite
import Testing
import TestSupport

/// The thin SQLite binding under the journal: values round-trip, misuse and
/// damage are errors with SQLite's words, a failed transaction leaves nothing.
@Suite struct SQLiteTests {
    static func open(_ dir: TemporaryDirectory) throws -> Connection {
        let db = try Connection(path: dir.url.appendingPathComponent("t.sqlite").path)
        try db.execute(script: "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, note TEXT, data BLOB, ratio REAL)")
        return db
    }

    @Test func valuesRoundTrip() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = try Self.open(dir)
        let note: String? = nil
        try db.run("INSERT INTO t (id, name, note, data, ratio) VALUES (?, ?, ?, ?, ?)",
                   [Int64.max, "名前 ✓", note, SQLiteValue.blob([0, 1, 255]), SQLiteValue.real(0.5)])
        #expect(db.lastInsertedRowID == Int64.max)
        let row = try #require(try db.row("SELECT * FROM t"))
        #expect(try row.value("id", as: Int64.self) == Int64.max)
        #expect(try row.value("name", as: String.self) == "名前 ✓")
        #expect(try row.optional("note", as: String.self) == nil)
        #expect(try db.scalar(Int.self, "SELECT COUNT(*) FROM t WHERE data = ?", [SQLiteValue.blob([0, 1, 255])]) == 1)
        #expect(try db.scalar(String.self, "SELECT name FROM t WHERE id = ?", [1]) == nil, "no row")
    }

    @Test func existsStepsOnceAndLeavesTheStatementReusable() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = try Self.open(dir)
        try db.run("INSERT INTO t (id, name) VALUES (1, 'x'), (2, 'y')")
        let probe = "SELECT 1 FROM t WHERE id = ?"
        #expect(try db.exists(probe, [1]))
        #expect(try !db.exists(probe, [3]))
        #expect(try db.exists("SELECT id FROM t"), "more rows than one: still true, and reset for the next use")
        #expect(try db.exists(probe, [2]))
        #expect(throws: SQLiteError.self) { try db.exists(probe) }
        #expect(throws: SQLiteError.self) { try db.exists("SELECT nonsense FROM") }
    }

    @Test func misuseAndTheWrongTypeAreErrors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = try Self.open(dir)
        try db.run("INSERT INTO t (id, name) VALUES (1, 'x')")
        #expect(throws: SQLiteError.self) { try db.run("INSERT INTO t (id) VALUES (?)") }
        #expect(throws: SQLiteError.self) { try db.run("SELECT nonsense FROM") }
        let row = try #require(try db.row("SELECT id, name FROM t"))
        #expect(throws: SQLiteError.self) { try row.value("name", as: Int.self) }
        #expect(throws: SQLiteError.self) { try row.value("absent", as: Int.self) }
        #expect(throws: SQLiteError.self) { try db.scalar(Int.self, "SELECT name FROM t") }
        // A constraint broken: SQLite's own words, extended code kept.
        do {
            try db.run("INSERT INTO t (id) VALUES (1)")
            Issue.record("a duplicate key was accepted")
        } catch {
            #expect(error.code == 1555, "SQLITE_CONSTRAINT_PRIMARYKEY")
            #expect(error.message.contains("UNIQUE constraint failed"))
        }
    }

    @Test func aThrowingTransactionLeavesNothing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = try Self.open(dir)
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try db.transaction(.immediate) { db in
                try db.run("INSERT INTO t (id) VALUES (1)")
                throw Stop()
            }
        }
        #expect(try db.scalar(Int.self, "SELECT COUNT(*) FROM t") == 0)
        try db.transaction(.immediate) { try $0.run("INSERT INTO t (id) VALUES (2)") }
        #expect(try db.scalar(Int.self, "SELECT COUNT(*) FROM t") == 1)
    }

    @Test func notADatabaseIsAnError() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.url.appendingPathComponent("junk").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        #expect(throws: SQLiteError.self) { try Connection(path: path, readOnly: true).run("SELECT 1 FROM sqlite_master") }
        #expect(throws: SQLiteError.self) { try Connection(path: dir.url.appendingPathComponent("absent").path, readOnly: true) }
    }
}
