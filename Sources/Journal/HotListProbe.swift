import SQLite

/// The per-tap hot-list lookup on its own read-only SQLite connection: a
/// primary-key probe with one prepared statement, served from the
/// memory-mapped file, never waiting behind the journal's other reads. The
/// list is never loaded into the heap.
final class HotListProbe: Sendable {
    static let lookup = "SELECT 1 FROM hotlist WHERE card_no = ?"
    private let connection: SharedConnection

    init?(path: String) {
        guard let connection = try? Connection(path: path, readOnly: true),
              (try? connection.execute(script: "PRAGMA mmap_size = 1073741824")) != nil
        else { return nil }
        self.connection = SharedConnection(connection)
    }

    /// Nil when SQLite could not answer (then the caller falls back to a
    /// normal read, never to "not listed" by default).
    func contains(_ key: Int64) -> Bool? {
        try? connection.use { try $0.exists(Self.lookup, [key]) }
    }
}
