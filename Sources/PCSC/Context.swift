import CPCSCLite
#if canImport(Glibc)
import Glibc
#endif

/// A PC/SC resource-manager context (`SCARDCONTEXT`). One for card monitoring
/// and another for transmitting, so a blocking wait never holds up an APDU.
/// Not shared between threads; `cancel()` is the one call pcsc-lite allows
/// from another thread.
public final class PCSCContext {
    public let rawValue: SCARDCONTEXT
    /// Where this context's connect, transmit and status calls run, bounded.
    let calls: BoundedCall
    /// True once a call on this context overran its bound: that call still
    /// holds pcsc-lite's lock for the context, so nothing more may be done
    /// with it or its handles (not even releasing it). Open a new context.
    public private(set) var stranded = false

    /// The corresponding C function is `SCardEstablishContext`.
    public init() throws(PCSCError) {
        var context: SCARDCONTEXT = 0
        try check(SCardEstablishContext(DWORD(SCARD_SCOPE_SYSTEM), nil, nil, &context), "SCardEstablishContext")
        rawValue = context
        calls = BoundedCall(label: "context-\(context)")
    }

    deinit {
        if !stranded { SCardReleaseContext(rawValue) }
    }

    /// Runs `body` on this context's call queue within `milliseconds`; an
    /// overrun strands the context and throws `.overran`.
    func bounded<T: Sendable>(_ milliseconds: UInt32, _ body: @escaping @Sendable () -> T) throws(PCSCError) -> T {
        guard !stranded else { throw .overran }
        guard let value = calls.run(within: milliseconds, body) else {
            stranded = true
            throw .overran
        }
        return value
    }

    /// Reader names. The corresponding C function is `SCardListReaders`.
    public func readers() throws(PCSCError) -> [String] {
        var length: DWORD = 0
        let first = SCardListReaders(rawValue, nil, nil, &length)
        if first == SCARD_E_NO_READERS_AVAILABLE { return [] }
        try check(first, "SCardListReaders")
        var buffer = [CChar](repeating: 0, count: Int(length))
        try check(SCardListReaders(rawValue, nil, &buffer, &length), "SCardListReaders")
        // A multi-string: names separated by NUL, ending in an empty name.
        return buffer.split(separator: 0).map { String(decoding: $0.map(UInt8.init(bitPattern:)), as: UTF8.self) }
    }

    /// Waits until a card is present in `reader` (returns at once if one is).
    /// Throws `.timeout` when `timeoutMilliseconds` pass first.
    public func waitForCard(in reader: String, timeoutMilliseconds: UInt32) throws(PCSCError) {
        try waitUntil(reader: reader, timeoutMilliseconds: timeoutMilliseconds) { $0 & DWORD(SCARD_STATE_PRESENT) != 0 }
    }

    /// Waits until `reader` is empty, so one tap is never served twice.
    public func waitForRemoval(from reader: String, timeoutMilliseconds: UInt32) throws(PCSCError) {
        try waitUntil(reader: reader, timeoutMilliseconds: timeoutMilliseconds) { $0 & DWORD(SCARD_STATE_EMPTY) != 0 }
    }

    /// Waits until every one of `readers` is empty (a clean field before a
    /// simulator takes a vpcd slot, or after it leaves).
    public func waitUntilEmpty(_ readers: [String], timeoutMilliseconds: UInt32) throws(PCSCError) {
        for reader in readers { try waitForRemoval(from: reader, timeoutMilliseconds: timeoutMilliseconds) }
    }

    /// Interrupts a `waitFor…` in progress on another thread. The corresponding
    /// C function is `SCardCancel`.
    public func cancel() {
        SCardCancel(rawValue)
    }

    /// The corresponding C function is `SCardGetStatusChange`: loop on the
    /// event state until `satisfied` holds or the time is up.
    private func waitUntil(reader: String, timeoutMilliseconds: UInt32, _ satisfied: (DWORD) -> Bool) throws(PCSCError) {
        // szReader must stay valid for the whole wait: keep our own copy.
        guard let name = strdup(reader) else { fatalError("out of memory") }
        defer { free(name) }
        var state = SCARD_READERSTATE()
        state.szReader = UnsafePointer(name)
        state.dwCurrentState = DWORD(SCARD_STATE_UNAWARE)
        let deadline = ContinuousClock.now + .milliseconds(Int(timeoutMilliseconds))
        while true {
            // The first call (state unknown to us) answers at once, so even a
            // 0 ms wait looks at the reader before it times out.
            let left = max(deadline - ContinuousClock.now, .zero)
            let millis = DWORD(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)
            try check(SCardGetStatusChange(rawValue, millis, &state, 1), "SCardGetStatusChange")
            if state.dwEventState & DWORD(SCARD_STATE_UNKNOWN) != 0 { throw .unknownReader }
            if satisfied(state.dwEventState) { return }
            guard ContinuousClock.now < deadline else { throw .timeout }
            state.dwCurrentState = state.dwEventState & ~DWORD(SCARD_STATE_CHANGED)
        }
    }
}
