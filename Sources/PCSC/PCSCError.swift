import CPCSCLite

/// A pcsc-lite result code (`LONG`) as a value. The corresponding C function
/// for its text is `pcsc_stringify_error`.
public struct PCSCError: Error, Hashable, Sendable, RawRepresentable, CustomStringConvertible {
    public let rawValue: Int

    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let cancelled = PCSCError(rawValue: SCARD_E_CANCELLED)
    public static let timeout = PCSCError(rawValue: SCARD_E_TIMEOUT)
    public static let noSmartcard = PCSCError(rawValue: SCARD_E_NO_SMARTCARD)
    public static let noReadersAvailable = PCSCError(rawValue: SCARD_E_NO_READERS_AVAILABLE)
    public static let unknownReader = PCSCError(rawValue: SCARD_E_UNKNOWN_READER)
    public static let noService = PCSCError(rawValue: SCARD_E_NO_SERVICE)
    public static let readerUnavailable = PCSCError(rawValue: SCARD_E_READER_UNAVAILABLE)
    public static let removedCard = PCSCError(rawValue: SCARD_W_REMOVED_CARD)
    public static let resetCard = PCSCError(rawValue: SCARD_W_RESET_CARD)
    public static let unresponsiveCard = PCSCError(rawValue: SCARD_W_UNRESPONSIVE_CARD)
    public static let unpoweredCard = PCSCError(rawValue: SCARD_W_UNPOWERED_CARD)
    public static let invalidHandle = PCSCError(rawValue: SCARD_E_INVALID_HANDLE)
    public static let serviceStopped = PCSCError(rawValue: SCARD_E_SERVICE_STOPPED)
    /// pcsc-lite's socket to pcscd broke (pcscd died under the call).
    public static let commError = PCSCError(rawValue: SCARD_F_COMM_ERROR)
    public static let invalidParameter = PCSCError(rawValue: SCARD_E_INVALID_PARAMETER)
    public static let insufficientBuffer = PCSCError(rawValue: SCARD_E_INSUFFICIENT_BUFFER)
    /// Ours, not pcsc-lite's: the call did not return within its bound
    /// (`BoundedCall`); the context it ran on is abandoned.
    public static let overran = PCSCError(rawValue: 0x7FFF_0001)

    /// True when the error says the card left the field (a normal event at a terminal).
    public var meansCardGone: Bool {
        [.removedCard, .noSmartcard, .resetCard, .unpoweredCard, .unresponsiveCard].contains(self)
    }

    /// True when the error says pcscd or the reader went away (pcscd stopped
    /// or restarted, a reader unplugged): the contexts must be opened anew.
    public var meansReadersLost: Bool {
        [.noService, .unknownReader, .readerUnavailable, .noReadersAvailable, .invalidHandle, .serviceStopped, .commError].contains(self)
    }

    public var description: String {
        if self == .overran { return "the reader did not answer within its time bound" }
        return "\(String(cString: pcsc_stringify_error(rawValue))) (0x\(String(UInt32(truncatingIfNeeded: rawValue), radix: 16, uppercase: true)))"
    }
}

/// The one place that turns a pcsc-lite return code into a thrown value.
/// An invalid parameter can only mean a bug in this binding, and traps. (An
/// insufficient buffer is thrown: a card answering more than the 258 bytes a
/// short APDU allows makes it, and nothing a card sends may trap the process.)
@inline(__always)
func check(_ rv: Int, _ function: StaticString) throws(PCSCError) {
    guard rv != SCARD_S_SUCCESS else { return }
    let error = PCSCError(rawValue: rv)
    precondition(error != .invalidParameter, "\(function): \(error) is a bug in the PC/SC binding")
    throw error
}
