import Foundation
import GRDBSQLite

/// The per-tap hot-list lookup on its own read-only SQLite connection with one
/// prepared statement: a primary-key probe straight through SQLite's C API,
/// served from the memory-mapped file. The list is never loaded into the heap.
/// (Through GRDB's general-purpose read path the same probe costs several
/// times more, which matters at a tap per second.)
final class HotListProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var connection: OpaquePointer?
    private var statement: OpaquePointer?

    init?(path: String) {
        guard sqlite3_open_v2(path, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
              sqlite3_exec(connection, "PRAGMA mmap_size = 1073741824", nil, nil, nil) == SQLITE_OK,
              sqlite3_prepare_v3(connection, "SELECT 1 FROM hotlist WHERE card_no = ?", -1,
                                 UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil) == SQLITE_OK
        else {
            sqlite3_close_v2(connection)
            return nil
        }
    }

    deinit {
        sqlite3_finalize(statement)
        sqlite3_close_v2(connection)
    }

    /// Nil when SQLite could not answer (then the caller falls back to a
    /// normal read, never to "not listed" by default).
    func contains(_ key: Int64) -> Bool? {
        lock.withLock {
            defer { sqlite3_reset(statement) }
            guard sqlite3_bind_int64(statement, 1, key) == SQLITE_OK else { return nil }
            switch sqlite3_step(statement) {
            case SQLITE_ROW: return true
            case SQLITE_DONE: return false
            default: return nil
            }
        }
    }
}
