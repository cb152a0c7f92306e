#if canImport(Glibc)
import Glibc
#endif

/// A wall-clock time in the device's own time zone, as the C library keeps it:
/// the zone from `TZ` or `/etc/localtime`, read through the zoneinfo database
/// by localtime_r(3) and mktime(3). The contracts' times are the terminal's
/// local time, and FoundationEssentials (all the firmware links) knows no
/// zone but GMT: its `TimeZone.current` is GMT whatever the device is set to.
public struct LocalTime: Equatable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    /// Seconds east of UTC in force at this time (+28800 in China).
    public var utcOffsetSeconds: Int

    public init(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, utcOffsetSeconds: Int = 0) {
        (self.year, self.month, self.day, self.hour, self.minute, self.second) = (year, month, day, hour, minute, second)
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    /// The local time at `epochSeconds` (seconds since 1970-01-01 UTC); nil
    /// when the C library cannot represent it (a year past its `int`).
    public init?(epochSeconds: Int) {
        guard let seconds = time_t(exactly: epochSeconds) else { return nil }
        var clock = seconds, fields = tm()
        guard localtime_r(&clock, &fields) != nil else { return nil }
        self.init(year: Int(fields.tm_year) + 1900, month: Int(fields.tm_mon) + 1, day: Int(fields.tm_mday), hour: Int(fields.tm_hour),
                  minute: Int(fields.tm_min), second: Int(fields.tm_sec), utcOffsetSeconds: fields.tm_gmtoff)
    }

    /// The instant this local time names, in seconds since 1970-01-01 UTC (a
    /// time a daylight-saving change skips or repeats is resolved by the C
    /// library); nil for fields it cannot represent. `utcOffsetSeconds` is not read.
    public var epochSeconds: Int? {
        guard let year = Int32(exactly: year - 1900), let month = Int32(exactly: month - 1), let day = Int32(exactly: day),
              let hour = Int32(exactly: hour), let minute = Int32(exactly: minute), let second = Int32(exactly: second)
        else { return nil }
        var fields = tm()
        (fields.tm_year, fields.tm_mon, fields.tm_mday, fields.tm_hour, fields.tm_min, fields.tm_sec) = (year, month, day, hour, minute, second)
        fields.tm_isdst = -1  // the C library decides whether daylight saving is in force
        let seconds = mktime(&fields)
        return seconds == -1 ? nil : Int(seconds)
    }
}
