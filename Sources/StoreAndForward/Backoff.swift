/// When to try the platform again after a failure: exponential backoff with
/// full jitter (so a fleet of terminals coming back online does not retry in
/// step), never sooner than the platform's `Retry-After`, and no retry limit:
/// an undelivered record is money, and it is never dropped.
public struct Backoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration
    /// After 401/403 a technician must act: check again only this often.
    public var configurationFaultDelay: Duration

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(300), configurationFaultDelay: Duration = .seconds(300)) {
        self.base = base
        self.cap = cap
        self.configurationFaultDelay = configurationFaultDelay
    }

    /// The wait before attempt `failures + 1`, given the last failure.
    public func delay(afterFailures failures: Int, retryAfterSeconds: Int?, configurationFault: Bool = false,
                      using random: inout some RandomNumberGenerator) -> Duration {
        if configurationFault { return configurationFaultDelay }
        let exponent = min(max(failures - 1, 0), 30)
        let ceiling = min(cap, base * (1 << exponent))
        let nanos = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        let jittered = Duration.nanoseconds(Int64.random(in: 0...max(nanos, 0), using: &random))
        let floor = Duration.seconds(retryAfterSeconds ?? 0)
        return max(jittered, floor)
    }
}
