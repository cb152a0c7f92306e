#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Purse

/// A bus route for distance fares: its stops and the fare between any two.
/// Provisioned to the terminal as JSON (`Board/routes/*.json` for the bench).
public struct Route: Codable, Equatable, Sendable {
    public var line: UInt16
    /// Stop names; a stop's number is its index.
    public var stops: [String]
    /// `fares[from][to]` in fen.
    public var fares: [[Int]]

    public init(line: UInt16, stops: [String], fares: [[Int]]) {
        self.line = line
        self.stops = stops
        self.fares = fares
    }

    /// The highest fare on the route: what a journey never tapped off costs.
    public var maxFare: Int { fares.joined().max() ?? 0 }

    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case noStops
        case fareTable(String)

        public var description: String {
            switch self {
            case .noStops: "the route has no stops"
            case .fareTable(let why): "the fare table \(why)"
            }
        }
    }

    public func validate() throws(Invalid) {
        guard !stops.isEmpty else { throw .noStops }
        guard fares.count == stops.count, fares.allSatisfy({ $0.count == stops.count }) else {
            throw .fareTable("must be \(stops.count)×\(stops.count), one row and column per stop")
        }
        guard fares.joined().allSatisfy({ $0 >= 0 }) else { throw .fareTable("has a negative fare") }
        guard fares.joined().allSatisfy({ $0 <= Int(UInt32.max) }) else { throw .fareTable("has a fare beyond a card's 32-bit amount") }
    }

    public func fare(from: UInt16, to: UInt16) -> Int {
        guard Int(from) < fares.count, Int(to) < fares.count else { return maxFare }
        return fares[Int(from)][Int(to)]
    }
}

/// The fare rules of one validator: where it stands and how it charges. Pure:
/// the card's composite record and the time in, the charge and the new record out.
public struct FareRules: Sendable {
    public enum Mode: Sendable, Equatable {
        /// One fare per boarding (the platform's `fares.flat`).
        case flat(Int)
        /// Tap on free, tap off charged by distance.
        case distance(Route)
    }

    public var mode: Mode
    public var line: UInt16
    public var stop: UInt16
    public var terminal: [UInt8]
    /// The platform's `transfer_window_s` and `transfer_discount`: boarding
    /// within the window after a paid tap takes the discount off the fare.
    public var transferWindowSeconds: Int
    public var transferDiscount: Int
    /// A second tap this soon at the same stop is the same passenger tapping
    /// twice: refused as "already checked in", never charged again.
    public var doubleTapSeconds: Int
    /// A journey open for longer than this (or on another line) was never
    /// tapped off: the next tap charges the route's maximum fare for it.
    public var maxJourneySeconds: Int

    public init(mode: Mode, line: UInt16, stop: UInt16, terminal: [UInt8], transferWindowSeconds: Int, transferDiscount: Int,
                doubleTapSeconds: Int = 120, maxJourneySeconds: Int = 4 * 3600) {
        self.mode = mode
        self.line = line
        self.stop = stop
        self.terminal = terminal
        self.transferWindowSeconds = transferWindowSeconds
        self.transferDiscount = transferDiscount
        self.doubleTapSeconds = doubleTapSeconds
        self.maxJourneySeconds = maxJourneySeconds
    }

    /// What this tap costs and the record it leaves on the card.
    public func charge(_ record: CompositeRecord, card: CardNumber, now: BCDDateTime) -> Result<TransitCharge, Decline> {
        let sinceEntry = record.entryTime.map { now.seconds(since: $0) }
        switch mode {
        case .flat(let fare):
            if let sinceEntry, sinceEntry <= doubleTapSeconds, record.line == line, record.entryTerminal == terminal {
                return .failure(Decline(.alreadyCheckedIn, "paid \(sinceEntry) s ago on this vehicle", cardNumber: card))
            }
            let amount = discounted(fare, boarding: now, lastPaid: record.lastPaidTime)
            return .success(TransitCharge(amount: amount, record: boarding(record, now: now, tappedOn: false, charged: amount)))

        case .distance(let route):
            guard record.tappedOn else {
                return .success(TransitCharge(amount: 0, record: boarding(record, now: now, tappedOn: true, charged: 0)))
            }
            guard let sinceEntry, let entryTime = record.entryTime, record.line == line, sinceEntry <= maxJourneySeconds else {
                // The last journey was never tapped off: it costs the maximum fare, and this tap opens a new one.
                let penalty = UInt32(clamping: route.maxFare)
                return .success(TransitCharge(amount: penalty, record: boarding(record, now: now, tappedOn: true, charged: penalty)))
            }
            if record.entryStop == stop && sinceEntry <= doubleTapSeconds {
                return .failure(Decline(.alreadyCheckedIn, "tapped on here \(sinceEntry) s ago", cardNumber: card))
            }
            let amount = discounted(route.fare(from: record.entryStop, to: stop), boarding: entryTime, lastPaid: record.lastPaidTime)
            var after = record
            after.tappedOn = false
            if amount > 0 { after.lastPaidTime = now }
            return .success(TransitCharge(amount: amount, record: after))
        }
    }

    /// `fare` less the transfer discount when boarding came within the window after the last paid tap.
    func discounted(_ fare: Int, boarding: BCDDateTime, lastPaid: BCDDateTime?) -> UInt32 {
        guard let lastPaid, case let gap = boarding.seconds(since: lastPaid), gap >= 0, gap <= transferWindowSeconds else {
            return UInt32(clamping: fare)
        }
        // Clamped: the fare and the discount come from files and the platform, and nothing they say may trap.
        let (less, overflow) = fare.subtractingReportingOverflow(max(0, transferDiscount))
        return overflow ? 0 : UInt32(clamping: less)
    }

    /// The record of a boarding here and now.
    func boarding(_ record: CompositeRecord, now: BCDDateTime, tappedOn: Bool, charged: UInt32) -> CompositeRecord {
        CompositeRecord(locked: false, tappedOn: tappedOn, entryTime: now, line: line, entryStop: stop, entryTerminal: terminal,
                        entryAmount: charged, lastPaidTime: charged > 0 ? now : record.lastPaidTime)
    }
}

