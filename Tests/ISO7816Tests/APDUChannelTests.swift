import Hex
import ISO7816
import Testing
import TestFixtures

@Suite struct APDUChannelTests {
    @Test(arguments: Vectors.load("transport.json"))
    func transportVector(_ vector: VectorCase) throws {
        let exchanges = (vector.expected["exchanges"] as! [[String]]).map { ([UInt8](hex: $0[0])!, [UInt8](hex: $0[1])!) }
        let link = ScriptedLink(exchanges.map(\.1))
        let command = vector.bytes("command")
        let apdu: CommandAPDU = vector.string("case") == "2"
            ? CommandAPDU(cla: command[0], ins: command[1], p1: command[2], p2: command[3], le: command[4])
            : CommandAPDU(cla: command[0], ins: command[1], p1: command[2], p2: command[3], data: Array(command[5...]))
        #expect(apdu.bytes == command)
        let answer = try APDUChannel(link).send(apdu)
        #expect(link.sent == exchanges.map(\.0))
        #expect(answer.data == vector.bytes("response_data"))
        #expect(answer.status == .success)
    }

    @Test func chainedGetResponseConcatenates() throws {
        let link = ScriptedLink([[0x61, 0x04], [1, 2, 3, 4, 0x61, 0x02], [5, 6, 0x90, 0x00]])
        let answer = try APDUChannel(link).send(CommandAPDU(cla: 0x80, ins: 0x50, p1: 1, p2: 2, data: [0]))
        #expect(answer.data == [1, 2, 3, 4, 5, 6])
        #expect(link.sent.dropFirst().map { $0.hex } == ["00C0000004", "00C0000002"])
    }

    @Test func fewerThanTwoBytesIsNoAnswer() {
        for raw in [[], [0x90]] as [[UInt8]] {
            #expect(throws: CardLinkError.noAnswer) {
                try APDUChannel(ScriptedLink([raw])).send(CommandAPDU(cla: 0, ins: 0xB0, p1: 0x95, p2: 0, le: 0x1E))
            }
        }
    }

    @Test func endless61IsAViolationNotAHang() {
        let link = ScriptedLink(Array(repeating: [0x61, 0x01], count: 100))
        #expect(throws: CardLinkError.self) {
            try APDUChannel(link, maximumTransportRounds: 8).send(CommandAPDU(cla: 0, ins: 0xB0, p1: 0, p2: 0, le: 1))
        }
        #expect(link.sent.count == 8)
    }

    @Test func repeated6CIsAViolation() {
        let link = ScriptedLink([[0x6C, 0x04], [0x6C, 0x05]])
        #expect(throws: CardLinkError.protocolViolation("6Cxx repeated for 805C000204")) {
            try APDUChannel(link).send(CommandAPDU(cla: 0x80, ins: 0x5C, p1: 0, p2: 2, le: 0))
        }
    }

    @Test func otherStatusWordsPassThrough() throws {
        let answer = try APDUChannel(ScriptedLink([[0x6A, 0x82]])).send(CommandAPDU(cla: 0, ins: 0xA4, p1: 4, p2: 0, data: [0xA0]))
        #expect(answer.status == StatusWord(0x6A82))
        #expect(answer.data.isEmpty)
    }
}
