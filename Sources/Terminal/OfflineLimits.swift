#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Journal
import Purse

/// How much the terminal may take while it cannot deliver (the clearing
/// platform's parameters `max_offline_records`, `max_offline_amount`,
/// `max_offline_hours`). Past any of them, purchases are refused before a card
/// is touched until records are delivered again.
public struct OfflineLimits: Equatable, Sendable {
    public var maxRecords: Int
    public var maxAmount: Int
    public var maxHours: Int
    /// Set when the limits themselves are unknown (stored parameters that
    /// cannot be read): every sale is refused until they are readable again.
    public var unknown: String?

    /// The platform's published defaults, used until parameters arrive.
    public static let standard = OfflineLimits(maxRecords: 50_000, maxAmount: 5_000_000, maxHours: 168)

    public init(maxRecords: Int, maxAmount: Int, maxHours: Int) {
        self.maxRecords = maxRecords
        self.maxAmount = maxAmount
        self.maxHours = maxHours
    }

    /// Why a purchase of `amount` at `now` must be refused, or nil. The bounds
    /// are never crossed: a sale that would take the terminal past one is refused.
    public func refusal(_ exposure: OfflineExposure, amount: UInt32, now: BCDDateTime) -> String? {
        if let unknown { return unknown }
        if exposure.records + 1 > maxRecords {
            return "\(exposure.records) records not yet delivered (limit \(maxRecords))"
        }
        if exposure.debitAmount + Int(amount) > maxAmount {
            return "\(exposure.debitAmount) fen taken offline; this sale would pass the limit of \(maxAmount)"
        }
        if let oldest = exposure.oldestTime.flatMap(BCDDateTime.init(text:)) {
            let age = now.seconds(since: oldest)
            if case let (limit, overflow) = maxHours.multipliedReportingOverflow(by: 3600), !overflow, age > limit {
                return "oldest undelivered record is \(age / 3600) hours old (limit \(maxHours))"
            }
        }
        return nil
    }
}

