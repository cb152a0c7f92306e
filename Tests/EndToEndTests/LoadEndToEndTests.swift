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
        #expect(run.stdout.contains("load_refused") && run.stdout.contains("limit_exceeded"))
        let after = try bench.simulated.cardState()
        #expect(after.balance == before.balance)
        #expect(after.onlineCounter == before.onlineCounter, "CREDIT was never sent")
        let records = try Journal(directory: bench.data).records(after: 0, limit: 10).map(\.record)
        #expect(records.map(\.kind) == [.declined])
        #expect(records.first?.reason == "load_refused")
        #expect(try await bench.platform.summary().loads == 0)

        let wrongPIN = try PosdRun.run(["load", "--amount", "100", "--pin", "999999", "--json"] + bench.arguments)
        #expect(wrongPIN.status == 1)
        #expect(wrongPIN.stdout.contains("pin_wrong"))
        #expect(try bench.simulated.cardState().balance == before.balance)
    }

    /// CREDIT commits on the card but its answer is lost: posd asks for the
    /// card again and completes the load from GET TRANSACTION PROVE. The
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
        #expect(run.status == 4, "\(run.stdout)\(run.stderr.suffix(1500))")
        #expect(run.stdout.contains(#""result":"recovered""#))

        let after = try bench.simulated.cardState()
        #expect(after.balance == before.balance + 2500, "credited exactly once")
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
}
