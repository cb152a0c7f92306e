import FlightRecorder
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Journal
import Synchronization
import Terminal

/// The composition root's parts that every command shares: the one journal of
/// the data directory and the parameters as they stand. `posd run` hands the
/// same `Journal` to the terminal loop and to store-and-forward, so a delivery
/// lowers the very exposure the next tap is checked against, and new
/// parameters stored by a sync apply from the next tap.
struct TerminalCore {
    let journal: Journal
    let parameters: LiveParameters
    /// The last taps' APDUs, beside the journal (nil if the file cannot be used).
    let recorder: FlightRecorder?

    init(data: DataOptions, limits: LimitOptions) throws {
        journal = try data.journal()
        parameters = LiveParameters(journal: journal, overrides: limits)
        recorder = FlightRecorder(directory: data.url)
    }
}

/// The limits, `max_purchase` and fares of the platform's stored parameters
/// (with the command line's overrides), read again only when the journal's
/// settings have changed since: between taps, never during one.
final class LiveParameters: Sendable {
    let journal: Journal
    let overrides: LimitOptions
    private let cached = Mutex<(generation: Int, limits: LimitOptions.Limits)?>(nil)

    init(journal: Journal, overrides: LimitOptions) {
        self.journal = journal
        self.overrides = overrides
    }

    var current: LimitOptions.Limits {
        let generation = journal.settingsGeneration
        if let cached = cached.withLock({ $0 }), cached.generation == generation { return cached.limits }
        let limits = overrides.resolve(journal)
        cached.withLock { $0 = (generation, limits) }
        return limits
    }
}
