import SQLite

/// The journal's SQLite connections: the one writer and one reader. In WAL
/// mode the reader sees the last commit while the writer makes the next, so a
/// tap's read never waits for the uploader's write, nor the reverse. Each
/// connection is used under its own lock.
final class JournalStore: Sendable {
    private let writer: SharedConnection?
    private let reader: SharedConnection

    /// Read-only: no writer, and the reader opened read-only (nothing on disk changes).
    init(path: String, readOnly: Bool) throws(SQLiteError) {
        if readOnly {
            writer = nil
        } else {
            let connection = try Connection(path: path)
            // Small pages: a commit writes one WAL frame per page it touches, and a
            // journal commit touches one or two pages; 1 KiB frames sync faster than 4 KiB.
            // Takes effect only when the file is created, so before anything else.
            try connection.execute(script: "PRAGMA page_size = 1024")
            guard try connection.scalar(String.self, "PRAGMA journal_mode = WAL") == "wal" else {
                throw SQLiteError(code: SQLiteError.genericCode, message: "\(path): SQLite would not use its write-ahead log")
            }
            // Every commit on disk before it returns; the WAL folded back every 128 pages.
            try connection.execute(script: "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 128")
            writer = SharedConnection(connection)
        }
        let connection = try Connection(path: path, readOnly: readOnly)
        // Reads straight from the mapped file: no read() calls, no copy in the heap.
        try connection.execute(script: "PRAGMA mmap_size = 1073741824; PRAGMA query_only = 1")
        reader = SharedConnection(connection)
    }

    /// `body` in one IMMEDIATE transaction on the writer: all of it or none.
    func write<T: Sendable>(_ body: (Connection) throws -> T) throws -> T {
        try writeWithoutTransaction { try $0.transaction(.immediate, body) }
    }

    func writeWithoutTransaction<T: Sendable>(_ body: (Connection) throws -> T) throws -> T {
        guard let writer else { throw SQLiteError(code: SQLiteError.readOnlyCode, message: "the journal is open read-only") }
        return try writer.use(body)
    }

    /// `body` in one read transaction: one consistent snapshot across its statements.
    func read<T: Sendable>(_ body: (Connection) throws -> T) throws -> T {
        try reader.use { try $0.transaction(.deferred, body) }
    }

    /// One statement needs no transaction: it is its own snapshot.
    func unsafeRead<T: Sendable>(_ body: (Connection) throws -> T) throws -> T {
        try reader.use(body)
    }
}
