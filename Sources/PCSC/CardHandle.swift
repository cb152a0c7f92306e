import CPCSCLite
import ISO7816

/// A connection to the card in one reader (`SCARDHANDLE`). It is the
/// `CardLink` the purse flows talk through.
public final class CardHandle: CardLink {
    public let rawValue: SCARDHANDLE
    public let reader: String
    private let context: PCSCContext
    private let protocolControl: UnsafePointer<SCARD_IO_REQUEST>
    private var receiveBuffer = [UInt8](repeating: 0, count: 258)

    /// The corresponding C function is `SCardConnect` (shared, T=0 or T=1).
    public init(context: PCSCContext, reader: String) throws(PCSCError) {
        var handle: SCARDHANDLE = 0
        var active: DWORD = 0
        try check(SCardConnect(context.rawValue, reader, DWORD(SCARD_SHARE_SHARED),
                               DWORD(SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1), &handle, &active), "SCardConnect")
        self.rawValue = handle
        self.reader = reader
        self.context = context
        self.protocolControl = active == DWORD(SCARD_PROTOCOL_T0) ? cpcsc_pci_t0() : cpcsc_pci_t1()
    }

    deinit { SCardDisconnect(rawValue, DWORD(SCARD_LEAVE_CARD)) }

    /// The answer to reset. The corresponding C function is `SCardStatus`.
    public func atr() throws(PCSCError) -> [UInt8] {
        var atr = [UInt8](repeating: 0, count: Int(MAX_ATR_SIZE))
        var atrLength = DWORD(atr.count)
        var state: DWORD = 0
        var proto: DWORD = 0
        var nameLength: DWORD = 0
        try check(SCardStatus(rawValue, nil, &nameLength, &state, &proto, &atr, &atrLength), "SCardStatus")
        return Array(atr.prefix(Int(atrLength)))
    }

    /// Raw transmit. The corresponding C function is `SCardTransmit`.
    public func transmitRaw(_ command: [UInt8]) throws(PCSCError) -> [UInt8] {
        var length = DWORD(receiveBuffer.count)
        try check(SCardTransmit(rawValue, protocolControl, command, DWORD(command.count), nil, &receiveBuffer, &length), "SCardTransmit")
        return Array(receiveBuffer.prefix(Int(length)))
    }

    /// `CardLink`: reader errors that mean the card left become `.cardRemoved`.
    public func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        do {
            return try transmitRaw(command)
        } catch {
            throw error.meansCardGone ? .cardRemoved : .transmitFailed(error.description)
        }
    }
}
