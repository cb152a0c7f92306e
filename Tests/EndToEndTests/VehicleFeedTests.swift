import Fares
import Foundation
import LineServer
import Testing
import TestSupport
import VirtualCards

/// A validator on a moving bus: `posd run` takes the stop from the vehicle
/// computer's feed (its Unix socket, the line protocol in the README) and
/// prices each tap at the stop the bus is at when the card comes; without the
/// feed it falls back to the provisioned stop and says so.
@Suite struct VehicleFeedTests {
    /// Six stops; a ride costs 1.00 plus 0.50 a stop.
    static let route = Route(line: 18, stops: ["Depot", "Market", "Station", "Harbour", "Park", "Airport"],
                             fares: (0..<6).map { from in (0..<6).map { to in from == to ? 0 : 100 + 50 * abs(from - to) } })

    @Test func aTapOffIsPricedFromTheStopTheBusIsAt() async throws {
        let bench = try FieldBench(card: .testCard1())
        let routeFile = bench.directory.appendingPathComponent("route-18.json")
        try JSONEncoder().encode(Self.route).write(to: routeFile)
        let socket = bench.directory.appendingPathComponent("vehicle.sock").path
        let provisioned = try bench.provision(["--mode", "validator", "--line", "18", "--stop", "1", "--route", routeFile.path,
                                               "--vehicle-socket", socket])
        #expect(provisioned.status == 0, "\(provisioned.stdout)\(provisioned.stderr)")
        try bench.startService(["--vehicle-stale-seconds", "2"])
        func feed(_ line: String) -> String { (try? controlRequest(path: socket, line)) ?? "(connection closed)" }

        // What the vehicle computer may not say.
        #expect(feed("STOP 19 0 2").hasPrefix("ERR line 19 is not this validator's line 18"))
        #expect(feed("STOP 18 0 9").hasPrefix("ERR stop 9 is not on the route"))
        #expect(feed("STOP 18 2 3").hasPrefix("ERR direction is 0 or 1"))
        #expect(feed("STOP 18 0").hasPrefix("ERR want STOP"))
        #expect(feed("HELLO").hasPrefix("ERR unknown request"))
        #expect(!feed(String(repeating: "S", count: 4096)).hasPrefix("OK"), "an endless line ends its connection")
        #expect(feed("WHERE") == "OK line=18 direction=- stop=1 source=provisioned")

        // Tap on at stop 2.
        var logged = bench.log?.all.count ?? 0
        #expect(feed("STOP 18 0 2") == "OK")
        #expect(bench.log?.await("vehicle at stop 2", after: logged) != nil)
        bench.present()
        let tapOn = try bench.result(after: 0)
        #expect(tapOn.contains("APPROVED"), "\(tapOn)")
        #expect(bench.cardState.balance == 10_000, "a tap on is free")
        try bench.lift()

        // The bus moves on to stop 5: the tap off pays 2 → 5.
        try await bench.advanceClock(by: 900)
        logged = bench.log?.all.count ?? 0
        #expect(feed("STOP 18 0 5") == "OK")
        #expect(feed("WHERE") == "OK line=18 direction=0 stop=5 source=feed")
        #expect(bench.log?.await("vehicle at stop 5", after: logged) != nil)
        let report = try bench.diagnostics()
        let vehicle = try #require(report.checks.first { $0.name == "vehicle feed" }, "\(report.checks.map(\.name))")
        #expect(vehicle.ok && vehicle.detail.hasPrefix("stop 5 of line 18 from the vehicle feed"), "\(vehicle.detail)")
        bench.present()
        let tapOff = try bench.result(after: 1)
        #expect(tapOff.contains("APPROVED"), "\(tapOff)")
        #expect(bench.cardState.balance == 10_000 - UInt32(Self.route.fare(from: 2, to: 5)), "charged the 2 → 5 fare, 2.50")
        try bench.lift()

        // The feed goes quiet: the provisioned stop prices taps, and diagnostics say so.
        logged = bench.log?.all.count ?? 0
        #expect(bench.log?.await("no vehicle feed: the provisioned stop 1 prices taps", after: logged, seconds: 10) != nil)
        #expect(feed("WHERE") == "OK line=18 direction=- stop=1 source=provisioned")
        let quiet = try #require(try bench.diagnostics().checks.first { $0.name == "vehicle feed" })
        #expect(!quiet.ok && quiet.detail.contains("the provisioned stop 1 prices taps"), "\(quiet.detail)")

        let journal = bench.deliverAndStop()
        let taps = try journal.records(after: 0, limit: 10).map(\.record)
        #expect(taps.map(\.amount) == [0, 250], "\(taps)")
    }
}
