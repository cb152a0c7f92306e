import BoardDefinition
import PCSC
import VirtualCards

/// Test card 1 (with a huge balance) and the test PSAM behind vpcd slots 0
/// and 1, without state files (their disk writes are not posd's cost) and
/// with a fixed card random, so a recorded tap replays byte for byte.
public final class BenchSimulators {
    public static let readers = [BoardDefinition.benchReaders.card, BoardDefinition.benchReaders.psam]
    public let card: VPCDHost<SimulatedPurseCard>
    public let psam: VPCDHost<SimulatedPSAM>

    public init() throws {
        try PCSCContext().waitUntilEmpty(Self.readers, timeoutMilliseconds: 10_000)
        var cardState = PurseCardState.testCard1()
        cardState.balance = 100_000_000
        let fixedRandom: [UInt8] = [0x7E, 0x3A, 0x91, 0xC4]
        card = VPCDHost(card: SimulatedPurseCard(state: cardState, random: { fixedRandom }),
                        port: VPCDHost<SimulatedPurseCard>.port(forSlot: 0), stateFile: nil)
        psam = VPCDHost(card: SimulatedPSAM(state: .testPSAM()), port: VPCDHost<SimulatedPSAM>.port(forSlot: 1), stateFile: nil)
        card.start()
        psam.start()
    }

    /// Stops both and waits until pcscd has seen the readers empty.
    public func stop() {
        card.stop()
        psam.stop()
        try? PCSCContext().waitUntilEmpty(Self.readers, timeoutMilliseconds: 10_000)
    }
}
