import CPCSCLite
import ISO7816

/// A connection to the card in one reader (`SCARDHANDLE`). It is the
/// `CardLink` the purse flows talk through. Every call is bounded
/// (`BoundedCall`): a card or reader that never answers costs at most
/// `callMilliseconds`, after which the handle and its context are abandoned.
public final class CardHandle: CardLink {
    public let rawValue: SCARDHANDLE
    public let reader: String
    private let context: PCSCContext
    private let isT0: Bool
    /// The bound on each call to the reader.
    public let callMilliseconds: UInt32

    /// The corresponding C function is `SCardConnect` (shared, T=0 or T=1).
    public init(context: PCSCContext, reader: String, callMilliseconds: UInt32 = 5_000) throws(PCSCError) {
        let contextValue = context.rawValue
        let (rv, handle, active) = try context.bounded(callMilliseconds) { () -> (Int, SCARDHANDLE, DWORD) in
            var handle: SCARDHANDLE = 0
            var active: DWORD = 0
            let rv = SCardConnect(contextValue, reader, DWORD(SCARD_SHARE_SHARED), DWORD(SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1),
                                  &handle, &active)
            return (rv, handle, active)
        }
        try check(rv, "SCardConnect")
        self.rawValue = handle
        self.reader = reader
        self.context = context
        self.isT0 = active == DWORD(SCARD_PROTOCOL_T0)
        self.callMilliseconds = callMilliseconds
    }

    deinit {
        let handle = rawValue
        _ = try? context.bounded(callMilliseconds) { SCardDisconnect(handle, DWORD(SCARD_LEAVE_CARD)) }
    }

    /// The answer to reset. The corresponding C function is `SCardStatus`.
    public func atr() throws(PCSCError) -> [UInt8] {
        let handle = rawValue
        let (rv, atr) = try context.bounded(callMilliseconds) { () -> (Int, [UInt8]) in
            var atr = [UInt8](repeating: 0, count: Int(MAX_ATR_SIZE))
            var atrLength = DWORD(atr.count)
            var state: DWORD = 0
            var proto: DWORD = 0
            var nameLength: DWORD = 0
            let rv = SCardStatus(handle, nil, &nameLength, &state, &proto, &atr, &atrLength)
            return (rv, Array(atr.prefix(Int(atrLength))))
        }
        try check(rv, "SCardStatus")
        return atr
    }

    /// Raw transmit. The corresponding C function is `SCardTransmit`.
    public func transmitRaw(_ command: [UInt8]) throws(PCSCError) -> [UInt8] {
        let (handle, isT0) = (rawValue, isT0)
        let (rv, answer) = try context.bounded(callMilliseconds) { () -> (Int, [UInt8]) in
            var buffer = [UInt8](repeating: 0, count: 258)
            var length = DWORD(buffer.count)
            let rv = SCardTransmit(handle, isT0 ? cpcsc_pci_t0() : cpcsc_pci_t1(), command, DWORD(command.count), nil, &buffer, &length)
            return (rv, Array(buffer.prefix(Int(min(length, DWORD(buffer.count))))))
        }
        try check(rv, "SCardTransmit")
        return answer
    }

    /// `SCardTransmit` itself, without the bound: the benchmarks' baseline
    /// ("the same bytes through bare SCardTransmit"). Never on a terminal path.
    public func transmitUnbounded(_ command: [UInt8]) throws(PCSCError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 258)
        var length = DWORD(buffer.count)
        try check(SCardTransmit(rawValue, isT0 ? cpcsc_pci_t0() : cpcsc_pci_t1(), command, DWORD(command.count), nil, &buffer, &length),
                  "SCardTransmit")
        return Array(buffer.prefix(Int(min(length, DWORD(buffer.count)))))
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
