import Foundation
import Hex
import PCSC
import Purse
import Terminal
import Testing
import VirtualCards

/// A terminal on the real PC/SC stack: the test's own card (vpcd slot 0) and
/// PSAM (slot 1) simulators, each saving a state file, and `Terminal` talking
/// to them through pcscd. One at a time: pcscd and its two slots are shared.
final class SimulatedTerminal {
    let directory: URL
    let card: VPCDHost<SimulatedPurseCard>
    let psam: VPCDHost<SimulatedPSAM>
    let terminal: Terminal

    var cardFile: URL { directory.appendingPathComponent("card.json") }
    var psamFile: URL { directory.appendingPathComponent("psam.json") }

    init(card cardState: PurseCardState, psam psamState: PSAMState = .testPSAM()) throws {
        try Self.waitForEmptyReaders()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("posd-e2e-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        card = VPCDHost(card: SimulatedPurseCard(state: cardState), port: VPCDHost<SimulatedPurseCard>.port(forSlot: 0),
                        stateFile: directory.appendingPathComponent("card.json"))
        psam = VPCDHost(card: SimulatedPSAM(state: psamState), port: VPCDHost<SimulatedPSAM>.port(forSlot: 1),
                        stateFile: directory.appendingPathComponent("psam.json"))
        psam.start()
        card.start()
        terminal = try Terminal(.init())
    }

    /// The card's and PSAM's persisted state, read back from their files.
    func cardState() throws -> PurseCardState { try VirtualCards.load(PurseCardState.self, from: cardFile) }
    func psamState() throws -> PSAMState { try VirtualCards.load(PSAMState.self, from: psamFile) }

    func purchase(_ amount: UInt32, time: BCDDateTime = .now(),
                  recordPending: @escaping (PendingDebit) throws -> Void = { _ in }) throws -> PurchaseOutcome {
        try terminal.purchase(amount: amount, time: time, timeoutMilliseconds: 10_000, recordPending: recordPending)
    }

    /// Stops both simulators and waits until pcscd has seen both readers empty,
    /// so the next test starts from a clean field.
    func close() throws {
        card.stop()
        psam.stop()
        try Self.waitForEmptyReaders()
        try? FileManager.default.removeItem(at: directory)
    }

    static func waitForEmptyReaders() throws {
        try PCSCContext().waitUntilEmpty(["Virtual PCD 00 00", "Virtual PCD 00 01"], timeoutMilliseconds: 10_000)
    }
}

/// The clearing platform's TAC check (contract §6.5), done on the issuer side
/// with the test MTK: the terminal never holds this key.
func tacVerifies(_ receipt: PurchaseReceipt) -> Bool {
    let d = receipt.debit
    let dtk = PurseCrypto.diversify(algorithmID: d.algorithmID, master: PurseCardState.TestMasters.mtk, factor: d.cardNumber.bytes)
    let data = BigEndian.bytes(UInt64(d.amount), width: 4) + [d.transactionType] + d.terminalNumber
        + BigEndian.bytes(UInt64(d.terminalSequence), width: 4) + d.time.bytes
    return PurseCrypto.tac(algorithmID: d.algorithmID, dtk: dtk, data) == receipt.tac
}
