import SQLite

/// The hot list (clearing API §2), kept in the journal's database with its
/// version: looked up by card number on every tap, replaced or patched
/// atomically when the platform sends a new version.
extension Journal {
    /// A card number as the table's key: its 8 BCD bytes as one 64-bit integer.
    static func key(_ cardNo: String) -> Int64? {
        guard cardNo.utf8.count == 16, let value = UInt64(cardNo, radix: 16) else { return nil }
        return Int64(bitPattern: value)
    }

    /// True when `cardNo` is on the hot list. One primary-key probe, nothing loaded.
    /// Throws when neither the probe nor a normal read can answer: a money
    /// path must refuse the card then, never take it as unlisted.
    public func isHotListed(_ cardNo: String) throws(JournalError) -> Bool {
        guard let key = Self.key(cardNo) else { throw .storage("card number \(cardNo) is not 16 hex digits") }
        if let answer = hotListProbe?.contains(key) { return answer }
        return try unsafeRead { try $0.exists(HotListProbe.lookup, [key]) }
    }

    /// The version last applied (0: none yet).
    public var hotListVersion: Int {
        get throws(JournalError) { try read { try $0.scalar(Int.self, "SELECT version FROM hotlist_version WHERE id = 1") ?? 0 } }
    }

    public var hotListCount: Int {
        get throws(JournalError) { try read { try $0.scalar(Int.self, "SELECT COUNT(*) FROM hotlist") ?? 0 } }
    }

    /// Applies one answer of `GET /v1/blacklist`: `full` replaces the list with
    /// `add`, otherwise `add` and `remove` patch it. All or nothing, with the version.
    public func applyHotList(version: Int, full: Bool, add: [String], remove: [String]) throws(JournalError) {
        let adds = add.compactMap(Self.key), removes = remove.compactMap(Self.key)
        guard adds.count == add.count, removes.count == remove.count else {
            throw .storage("hot list version \(version) has a malformed card number")
        }
        try write { db in
            if full { try db.run("DELETE FROM hotlist") }
            for key in adds { try db.run("INSERT OR IGNORE INTO hotlist (card_no) VALUES (?)", [key]) }
            for key in removes { try db.run("DELETE FROM hotlist WHERE card_no = ?", [key]) }
            try db.run("INSERT OR REPLACE INTO hotlist_version (id, version) VALUES (1, ?)", [version])
        }
    }
}
