import Hex
import ISO7816

/// APPLICATION BLOCK of a hot-listed card (contract §8.5): the card's
/// challenge, the MAC from the PSAM (`80 1A`, `80 FA`), then `84 1E`.
struct CardBlocking {
    let card: CardSession
    let psam: PSAM
    let permanent: Bool

    func run() -> CardBlock {
        let number = card.cardNumber!
        // Optional, for the record's balance_before.
        let balance = (try? card.expect(PurseCommand.getBalance, length: 4)).map { UInt32(BigEndian.uint($0)) }
        let header: [UInt8] = [0x84, 0x1E, 0x00, permanent ? 0x01 : 0x00, 0x04]
        do {
            let challenge = try card.expect(CommandAPDU(cla: 0x00, ins: 0x84, p1: 0x00, p2: 0x00, le: 0x04), length: 4)
            let mac = try psam.blockMAC(cardNumber: number, header: header, challenge: challenge)
            let answer = try card.send(CommandAPDU(cla: header[0], ins: header[1], p1: header[2], p2: header[3], data: mac))
            guard answer.status.isSuccess else {
                return CardBlock(cardNumber: number, balance: balance, result: .failed("APPLICATION BLOCK answered \(answer.status)"))
            }
            return CardBlock(cardNumber: number, balance: balance, result: permanent ? .permanent : .temporary)
        } catch {
            return CardBlock(cardNumber: number, balance: balance, result: .failed(error.detail))
        }
    }
}
