import Fares
import Purse
import Testing

/// Fare decisions from a table of cases: the record on the card and the time
/// in, the amount and the record to write (or a refusal) out.
@Suite struct FareRulesTests {
    static let us: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
    static let other: [UInt8] = [0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0x01]
    static let route = Route(line: 0x12, stops: ["Depot", "Market", "Station", "Harbour"],
                             fares: [[0, 200, 300, 400], [200, 0, 200, 300], [300, 200, 0, 200], [400, 300, 200, 0]])
    static let card = CardNumber(hex: "8888000000000001")!

    static func t(_ text: String) -> BCDDateTime { BCDDateTime(text: "20261122" + text)! }

    static func rules(_ mode: FareRules.Mode, stop: UInt16, terminal: [UInt8] = us) -> FareRules {
        FareRules(mode: mode, line: 0x12, stop: stop, terminal: terminal, transferWindowSeconds: 5400, transferDiscount: 100)
    }

    static func onJourney(from stop: UInt16, at time: String, line: UInt16 = 0x12, lastPaid: String? = nil) -> CompositeRecord {
        CompositeRecord(tappedOn: true, entryTime: t(time), line: line, entryStop: stop, entryTerminal: us, lastPaidTime: lastPaid.map(t))
    }

    struct Case: CustomStringConvertible, Sendable {
        var name: String
        var mode: FareRules.Mode
        var stop: UInt16
        var terminal: [UInt8] = FareRulesTests.us
        var record: CompositeRecord
        var now: String
        /// The amount charged, or nil for "already checked in".
        var amount: UInt32?
        var tappedOnAfter: Bool? = nil
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "distance: tap on is free and opens the journey", mode: .distance(route), stop: 1, record: CompositeRecord(),
             now: "080000", amount: 0, tappedOnAfter: true),
        Case(name: "distance: tap off charges the table", mode: .distance(route), stop: 3, record: onJourney(from: 1, at: "080000"),
             now: "082000", amount: 300, tappedOnAfter: false),
        Case(name: "distance: tap off the other way", mode: .distance(route), stop: 0, record: onJourney(from: 2, at: "080000"),
             now: "082000", amount: 300, tappedOnAfter: false),
        Case(name: "distance: same stop a minute later is a double tap", mode: .distance(route), stop: 1,
             record: onJourney(from: 1, at: "080000"), now: "080100", amount: nil),
        Case(name: "distance: same stop after the double-tap window is a 0 fare tap off", mode: .distance(route), stop: 1,
             record: onJourney(from: 1, at: "080000"), now: "081000", amount: 0, tappedOnAfter: false),
        Case(name: "distance: a journey on another line was never tapped off", mode: .distance(route), stop: 2,
             record: onJourney(from: 1, at: "070000", line: 0x99), now: "080000", amount: 400, tappedOnAfter: true),
        Case(name: "distance: a journey open for 5 hours was never tapped off", mode: .distance(route), stop: 2,
             record: onJourney(from: 1, at: "030000"), now: "080000", amount: 400, tappedOnAfter: true),
        Case(name: "distance: boarding within the transfer window takes the discount", mode: .distance(route), stop: 3,
             record: onJourney(from: 1, at: "080000", lastPaid: "073000"), now: "082000", amount: 200, tappedOnAfter: false),
        Case(name: "distance: boarding after the transfer window pays in full", mode: .distance(route), stop: 3,
             record: onJourney(from: 1, at: "080000", lastPaid: "050000"), now: "082000", amount: 300, tappedOnAfter: false),
        Case(name: "distance: the discount never makes a fare negative", mode: .distance(route), stop: 2,
             record: onJourney(from: 3, at: "080000", lastPaid: "075900"), now: "081000", amount: 100, tappedOnAfter: false),
        Case(name: "flat: a boarding pays the flat fare", mode: .flat(200), stop: 0, record: CompositeRecord(), now: "080000",
             amount: 200, tappedOnAfter: false),
        Case(name: "flat: a transfer within the window", mode: .flat(200), stop: 0,
             record: CompositeRecord(entryTime: t("073000"), line: 0x77, entryTerminal: other, lastPaidTime: t("073000")),
             now: "080000", amount: 100, tappedOnAfter: false),
        Case(name: "flat: tapping twice on the same vehicle", mode: .flat(200), stop: 0,
             record: CompositeRecord(entryTime: t("075930"), line: 0x12, entryTerminal: us, lastPaidTime: t("075930")),
             now: "080000", amount: nil),
        Case(name: "flat: the same card on another vehicle of the line pays (a transfer)", mode: .flat(200), stop: 0, terminal: other,
             record: CompositeRecord(entryTime: t("075930"), line: 0x12, entryTerminal: us, lastPaidTime: t("075930")),
             now: "080000", amount: 100, tappedOnAfter: false),
    ]

    @Test(arguments: cases)
    func fare(_ c: Case) {
        let rules = Self.rules(c.mode, stop: c.stop, terminal: c.terminal)
        let now = Self.t(c.now)
        switch rules.charge(c.record, card: Self.card, now: now) {
        case .success(let charge):
            #expect(charge.amount == c.amount, "\(c.name)")
            #expect(charge.record.tappedOn == c.tappedOnAfter, "\(c.name)")
            #expect(charge.record.lastPaidTime == (charge.amount > 0 ? now : c.record.lastPaidTime), "\(c.name): last paid tap")
            if charge.record.tappedOn || c.record.tappedOn == false {
                #expect(charge.record.entryTime == now && charge.record.entryStop == c.stop && charge.record.entryTerminal == c.terminal)
            } else {
                #expect(charge.record.entryTime == c.record.entryTime, "\(c.name): a tap off keeps the entry")
            }
        case .failure(let decline):
            #expect(c.amount == nil, "\(c.name): refused: \(decline)")
            #expect(decline.reason == .alreadyCheckedIn)
        }
    }

    @Test func routeValidation() {
        #expect(throws: Never.self) { try Self.route.validate() }
        #expect(throws: Route.Invalid.self) { try Route(line: 1, stops: ["A", "B"], fares: [[0, 1]]).validate() }
        #expect(throws: Route.Invalid.self) { try Route(line: 1, stops: [], fares: []).validate() }
        #expect(Self.route.maxFare == 400)
        #expect(Self.route.fare(from: 9, to: 1) == 400, "an unknown stop costs the maximum")
    }
}
