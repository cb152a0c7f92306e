#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Journal
import Logging

/// The terminal's clock against the platform's `Date` header (clearing API,
/// "Time"). The correction is an offset kept in the journal's settings, not a
/// change of the system clock: it survives restarts, needs no privilege, and
/// the transaction clock applies it together with the rule that no record is
/// ever earlier than the last one.
public enum ClockCorrection {
    /// Differences up to this are left alone.
    public static let toleranceSeconds = 120

    /// Compares the corrected local clock with the platform's; past the
    /// tolerance, adopts the platform's time. Returns the new offset when it changed.
    /// The platform's `Date` is believed only inside these years: a date a
    /// card cannot hold, or a platform that lies, must not move every
    /// transaction's date out of the cards' range.
    public static let plausible = Date(timeIntervalSince1970: 946_684_800)..<Date(timeIntervalSince1970: 4_102_444_800)  // 2000-01-01 ..< 2100-01-01 UTC

    @discardableResult
    public static func observe(serverDate: Date, localNow: Date = Date(), journal: Journal) throws(JournalError) -> Int? {
        guard plausible.contains(serverDate), abs(localNow.timeIntervalSince1970) < 1e12 else { return nil }
        let current = journal.clockOffsetSeconds
        let corrected = localNow.addingTimeInterval(Double(current))
        guard abs(serverDate.timeIntervalSince(corrected)) > Double(toleranceSeconds) else { return nil }
        let offset = Int(serverDate.timeIntervalSince(localNow).rounded())
        try journal.setClockOffset(seconds: offset)
        return offset
    }

    /// `observe`, for any platform answer: a correction is logged, a failure to store it too.
    static func follow(_ serverDate: Date?, journal: Journal, logger: Logger) {
        guard let serverDate else { return }
        guard plausible.contains(serverDate) else {
            logger.warning("the clearing platform's Date is implausible: clock left alone", metadata: ["date": "\(serverDate)"])
            return
        }
        do {
            if let offset = try observe(serverDate: serverDate, journal: journal) {
                logger.notice("clock corrected from the clearing platform's Date", metadata: ["offset_s": "\(offset)"])
            }
        } catch {
            logger.error("could not store the clock correction", metadata: ["error": "\(error)"])
        }
    }
}
