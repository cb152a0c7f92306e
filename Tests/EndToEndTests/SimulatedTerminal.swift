import BoardDefinition
import Foundation
import Hex
import IssuerCrypto
import Journal
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
        terminal = try Terminal(.init(cardReader: BoardDefinition.benchReaders.card, psamReader: BoardDefinition.benchReaders.psam))
    }

    /// The card's and PSAM's persisted state, read back from their files.
    func cardState() throws -> PurseCardState { try VirtualCards.load(PurseCardState.self, from: cardFile) }
    func psamState() throws -> PSAMState { try VirtualCards.load(PSAMState.self, from: psamFile) }

    func purchase(_ amount: UInt32, time: BCDDateTime = .now(),
                  recordPending: @escaping (PendingDebit) throws -> Void = { _ in }) throws -> PurchaseOutcome {
        // The flow with only its write-ahead seam: these tests look at the card.
        let flow = PurchaseFlow(recordPending: recordPending)
        return try terminal.withCard(timeoutMilliseconds: 10_000) { flow.run(card: $0, psam: terminal.psam, amount: amount, time: time) }
    }

    /// The card lifted from the reader and presented again, once the terminal has seen it go.
    func represent() throws {
        card.remove()
        try terminal.waitForRemoval(timeoutMilliseconds: 10_000)
        card.insert()
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
func tacVerifies(cardNumber: [UInt8], algorithmID: UInt8, amount: UInt32, type: UInt8, terminal: [UInt8],
                 sequence: UInt32, time: [UInt8], tac: [UInt8]) -> Bool {
    let dtk = PurseCrypto.diversify(algorithmID: algorithmID, master: PurseCardState.TestMasters.mtk, factor: cardNumber)
    let data = BigEndian.bytes(UInt64(amount), width: 4) + [type] + terminal + BigEndian.bytes(UInt64(sequence), width: 4) + time
    return PurseCrypto.tac(algorithmID: algorithmID, dtk: dtk, data) == tac
}

func tacVerifies(_ receipt: PurchaseReceipt) -> Bool {
    let d = receipt.debit
    return tacVerifies(cardNumber: d.cardNumber.bytes, algorithmID: d.algorithmID, amount: d.amount, type: d.transactionType,
                       terminal: d.terminalNumber, sequence: d.terminalSequence, time: d.time.bytes, tac: receipt.tac)
}

/// The same check on a journal record, as the platform receives it.
func tacVerifies(_ record: ClearingRecord, terminal: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]) -> Bool {
    guard let algorithmID = record.algID, let type = record.txType, let sequence = record.terminalSeq,
          let tac = record.tac.flatMap({ [UInt8](hex: $0) }), let number = [UInt8](hex: record.cardNo),
          let time = [UInt8](hex: record.time)
    else { return false }
    return tacVerifies(cardNumber: number, algorithmID: UInt8(algorithmID), amount: UInt32(record.amount), type: UInt8(type),
                       terminal: terminal, sequence: UInt32(sequence), time: time, tac: tac)
}
