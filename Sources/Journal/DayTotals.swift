import SQLite

/// A business day at this terminal, from its records: what the shop owner
/// reads off the menu before settling.
public struct DayTotals: Equatable, Sendable {
    /// Purchases (plain and transit composite), their count and fen.
    public var sales = 0
    public var salesAmount = 0
    public var loads = 0
    public var loadsAmount = 0
    /// Declined and blocked cards.
    public var declines = 0
    /// Records of any day not yet delivered to the platform.
    public var undelivered = 0

    public init() {}
}

extension Journal {
    /// The totals of the records dated `day` (`YYYYMMDD`, the terminal's own
    /// corrected date, as on the card), and the undelivered count.
    public func dayTotals(day: String) throws(JournalError) -> DayTotals {
        try read { db in
            var totals = DayTotals()
            let rows = try db.rows("""
                SELECT kind, COUNT(*) AS n, COALESCE(SUM(amount), 0) AS total FROM record WHERE substr(time, 1, 8) = ? GROUP BY kind
                """, [day])
            for row in rows {
                let (n, total): (Int, Int) = (try row.value("n"), try row.value("total"))
                switch ClearingRecord.Kind(rawValue: try row.value("kind")) {
                case .purchase?, .cappPurchase?: (totals.sales, totals.salesAmount) = (totals.sales + n, totals.salesAmount + total)
                case .load?: (totals.loads, totals.loadsAmount) = (n, total)
                case .declined?, .cardBlocked?: totals.declines += n
                case nil: break
                }
            }
            totals.undelivered = try db.scalar(Int.self, "SELECT COUNT(*) FROM record WHERE upload_state = 'undelivered'") ?? 0
            return totals
        }
    }

    /// The newest `limit` records, newest first.
    public func lastRecords(_ limit: Int) throws(JournalError) -> [ClearingRecord] {
        try read { db in
            try db.rows("SELECT body, hash FROM record ORDER BY seq DESC LIMIT ?", [max(0, limit)])
                .map { try Self.decode($0).record }
        }
    }
}
