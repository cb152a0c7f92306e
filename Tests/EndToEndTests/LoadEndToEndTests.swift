import Foundation
import Journal
import PCSC
import Purse
import Testing
import TestSupport
import VirtualCards

/// Online loads through pcscd and vpcd with the reference clearing platform:
/// `posd load` as shipped, the card's balance from its state file, the load
/// record's TAC verified by the platform when it is delivered.
extension PurchaseEndToEndTests {
    struct LoadBench {
        let simulated: SimulatedTerminal
        let platform: PlatformProcess
        let arguments: [String]
        let data: URL

        init(card: PurseCardState) throws {
            simulated = try SimulatedTerminal(card: card)
            platform = try PlatformProcess(directory: simulated.directory)
            data = simulated.directory.appendingPathComponent("data")
            arguments = try platform.posdArguments(dataDir: data)
        }

        func load(_ amount: Int, _ extra: [String] = []) throws -> PosdRun {
            try PosdRun.run(["load", "--amount", "\(amount)", "--pin", "123456", "--json"] + extra + arguments)
        }
    }

    @Test func loadWithMAC2FromThePlatform() async throws {
        let bench = try LoadBench(card: .testCard1())
        defer { try? bench.simulated.close() }
        let before = try bench.simulated.cardState()

        let run = try bench.load(5000)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr.suffix(1500))")
        #expect(run.stdout.contains(#""balance_after":15000"#))
        let after = try bench.simulated.cardState()
        #expect(after.balance == before.balance + 5000)
        #expect(after.onlineCounter == before.onlineCounter + 1)

        let records = try Journal(directory: bench.data).records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.load])
        #expect(records.first?.cardCounter == Int(before.onlineCounter))
        #expect(records.first?.terminalSeq == nil)
        #expect(!(run.stdout + run.stderr).contains(bench.platform.token))

        // Delivered: the platform checks the load's TAC under the test MTK.
        #expect(try PosdRun.run(["sync"] + bench.arguments).status == 0)
        let summary = try await bench.platform.summary()
        #expect(summary.accepted == 1, "rejected: \(summary.rejected)")
        #expect(summary.loads == 1)
    }

    @Test func loadRefusedByThePlatformLeavesTheCardUnchanged() async throws {
        let bench = try LoadBench(card: .testCard2())
        defer { try? bench.simulated.close() }
        let before = try bench.simulated.cardState()

        let run = try bench.load(60_000)  // max_load is 50 000
        #expect(run.status == 1, "\(run.stdout)\(run.stderr.suffix(1500))")
        #expect(run.stdout.contains("load_refused") && run.stderr.contains("limit_exceeded"), "detail in the log")
        let after = try bench.simulated.cardState()
        #expect(after.balance == before.balance)
        #expect(after.onlineCounter == before.onlineCounter, "CREDIT was never sent")
        let records = try Journal(directory: bench.data).records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.declined])
        #expect(records.first?.reason == "load_refused")
        #expect(records.first?.balanceBefore == Int(before.balance) && records.first?.cardCounter == Int(before.onlineCounter),
                "the figures INITIALIZE FOR LOAD gave, not zeros")
        #expect(try await bench.platform.summary().loads == 0)

        let wrongPIN = try PosdRun.run(["load", "--amount", "100", "--pin", "999999", "--json"] + bench.arguments)
        #expect(wrongPIN.status == 1)
        #expect(wrongPIN.stdout.contains("pin_wrong"))
        #expect(try bench.simulated.cardState().balance == before.balance)
    }

    /// CREDIT commits on the card but its answer is lost: posd asks for the
    /// card again and completes the load from GET TRANSACTION PROVE. This
    /// load was credited, so it is reported approved (recovered), exit 0. The
    /// platform is asked for MAC2 once.
    @Test func tornCreditIsRecoveredNotAuthorisedTwice() async throws {
        let bench = try LoadBench(card: .testCard2())
        defer { try? bench.simulated.close() }
        let before = try bench.simulated.cardState()
        bench.simulated.card.withCard { $0.armTear(.credit, nth: 1, .afterCommit) }

        let started = try PosdRun.start(["load", "--amount", "2500", "--pin", "123456", "--json"] + bench.arguments)
        #expect(PlatformProcess.readLine(started.1.fileHandleForReading).contains("present_card_again"))
        bench.simulated.card.waitUntilRemoved()
        try PCSCContext().waitForRemoval(from: "Virtual PCD 00 00", timeoutMilliseconds: 10_000)
        bench.simulated.card.insert()
        let run = PosdRun.finish(started)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr.suffix(1500))")
        #expect(run.stdout.contains(#""recovered":true,"result":"approved""#), "\(run.stdout)")

        let after = try bench.simulated.cardState()
        #expect(after.balance == before.balance + 2500, "credited exactly once")
        #expect(run.stdout.contains(#""balance_after":\#(after.balance)"#), "the balance shown is the card's")
        let records = try Journal(directory: bench.data).records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.load])
        #expect(records.first?.recovered == true)
        #expect(try Journal(directory: bench.data).openEntries().isEmpty)

        #expect(try PosdRun.run(["sync"] + bench.arguments).status == 0)
        let summary = try await bench.platform.summary()
        #expect(summary.accepted == 1, "the recovered load's TAC verifies: \(summary.rejected)")
        #expect(summary.loads == 1)
        #expect(summary.load_requests == 1, "one MAC2 request for one INITIALIZE")
    }

    /// The platform books the load and issues MAC2, but its answer is lost
    /// (the connection closes mid-answer): posd asks again for the same
    /// INITIALIZE (the call is idempotent) and credits the card, instead of
    /// declining a load the platform has booked.
    @Test func aLostLoadAnswerIsAskedForAgain() async throws {
        let bench = try LoadBench(card: .testCard1())
        defer { try? bench.simulated.close() }
        let before = try bench.simulated.cardState()
        try await bench.platform.control(.POST, "/control/fault", #"{"kind":"close_mid_response","path":"/v1/loads"}"#)

        let run = try bench.load(3000)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr.suffix(1500))")
        #expect(try bench.simulated.cardState().balance == before.balance + 3000, "credited once")
        let summary = try await bench.platform.summary()
        #expect(summary.loads == 1, "booked once")
        #expect(summary.load_requests == 2, "the lost answer was asked for again")
        #expect(try Journal(directory: bench.data).records(after: 0, limit: 10).map(\.record.kind) == [.load])
    }

    /// CREDIT torn before its commit: recovery proves the load did not reach
    /// the card, and the record says so in a load's words.
    @Test func aLoadProvenNotCommittedHasALoadReason() async throws {
        let bench = try LoadBench(card: .testCard2())
        defer { try? bench.simulated.close() }
        let before = try bench.simulated.cardState()
        bench.simulated.card.withCard { $0.armTear(.credit, nth: 1, .beforeCommit) }
        let presenter = Self.representAfterEachTear(bench.simulated, times: 1)
        let run = try bench.load(2500)
        #expect(presenter.wait(timeout: .now() + 30) == .success)
        #expect(run.status == 1, "\(run.stdout)\(run.stderr.suffix(1500))")
        #expect(run.stdout.contains(#""reason":"not_committed""#), "\(run.stdout)")
        #expect(try bench.simulated.cardState().balance == before.balance)
        let records = try Journal(directory: bench.data).records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.reason) == ["credit_not_committed"])
    }
}

/// The APDU flight recorder: the last taps' exchanges in a ring of fixed size
/// beside the journal, kept across a crash, PINs redacted, read by
/// `posd-tech diagnostics`.
extension PurchaseEndToEndTests {
    @Test func theFlightRecorderKeepsTheLastTapsAcrossACrash() async throws {
        let bench = try LoadBench(card: .testCard1())
        defer { try? bench.simulated.close() }
        let sales = try PosdRun.run(["purchase", "--amount", "1", "--repeat", "70", "--json", "--data-dir", bench.data.path])
        #expect(sales.status == 0, "\(sales.stderr.suffix(500))")
        #expect(try bench.load(2000).status == 0)

        // The next sale's terminal dies as DEBIT reaches the card.
        let victim = Shared<Int32>(0)
        bench.simulated.card.withCard { card in
            card.hooks.onCommand = { command in
                if command.count > 1 && command[0] == 0x80 && command[1] == 0x54 { kill(victim.with { $0 }, SIGKILL) }
                return .proceed
            }
        }
        #expect(try Self.runUntilKilled(["purchase", "--amount", "5", "--data-dir", bench.data.path], victim: victim) == "killed")
        bench.simulated.card.withCard { $0.hooks = CommandHooks() }

        let file = bench.data.appendingPathComponent("flight-recorder.txt")
        #expect(try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int == 64 * 4096, "bounded: 64 slots of 4 KiB")
        let report = try Self.run("posd-tech", ["diagnostics", "--data-dir", bench.data.path, "--json", "--recorded-taps", "64"])
        let json = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as? [String: Any]
        let traces = (json?["flight_recorder"] as? [[String: Any]])?.compactMap { $0["lines"] as? [String] } ?? []
        #expect(traces.count == 64, "the ring holds the last 64 taps")
        let killed = try #require(traces.last)
        #expect(killed.last?.hasPrefix("card > 805401000F") == true, "the crashed tap ends with the DEBIT it sent: \(killed.suffix(2))")
        let load = try #require(traces.dropLast().last)
        #expect(load.contains { $0.hasPrefix("card > (redacted)") }, "VERIFY PIN is recorded without its digits: \(load)")
        #expect(!report.stdout.contains("00200000031234"), "no PIN in the recorder")
        #expect(load.contains { $0.hasPrefix("outcome approved 2000") })
    }
}
