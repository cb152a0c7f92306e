import Foundation
import Synchronization

/// Faults a test switches on to see the terminal cope: each applies to the
/// next `count` requests whose path starts with `path`.
public struct Fault: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// 503 or 429 with `Retry-After: retry_after` (when given).
        case busy503 = "503", busy429 = "429"
        case serverError = "500"
        case unauthorized = "401"
        /// The request is processed (and stored), then no answer for `seconds` (default 60):
        /// the client's timeout must fire. Announced on the platform's stdout.
        case hang
        /// The request is processed and stored, then the connection closes halfway through the answer.
        case closeMidResponse = "close_mid_response"
        /// The upload answer leaves out the batch's last seq (which was stored).
        case omitSeq = "omit_seq"
        /// The upload answer also lists a seq that was not in the batch.
        case extraSeq = "extra_seq"
    }

    public var kind: Kind
    public var count: Int?
    public var retryAfter: Int?
    public var seconds: Int?
    public var path: String?

    public init(kind: Kind, count: Int? = nil, retryAfter: Int? = nil, seconds: Int? = nil, path: String? = nil) {
        self.kind = kind
        self.count = count
        self.retryAfter = retryAfter
        self.seconds = seconds
        self.path = path
    }

    enum CodingKeys: String, CodingKey {
        case kind, count, seconds, path
        case retryAfter = "retry_after"
    }
}

/// The faults switched on, and the platform clock's skew.
public final class FaultSwitch: Sendable {
    private struct State {
        var faults: [(fault: Fault, left: Int)] = []
        var clockSkewSeconds = 0
    }
    private let state = Mutex(State())

    public init() {}

    public func add(_ fault: Fault) {
        state.withLock { $0.faults.append((fault, max(1, fault.count ?? 1))) }
    }

    public func clear() {
        state.withLock { $0.faults.removeAll() }
    }

    /// The fault that applies to this request, if any (and counts it used).
    func take(path: String) -> Fault? {
        state.withLock { state in
            guard let index = state.faults.firstIndex(where: { path.hasPrefix($0.fault.path ?? "/v1/") }) else { return nil }
            let fault = state.faults[index].fault
            state.faults[index].left -= 1
            if state.faults[index].left == 0 { state.faults.remove(at: index) }
            return fault
        }
    }

    public var clockSkewSeconds: Int {
        get { state.withLock { $0.clockSkewSeconds } }
        set { state.withLock { $0.clockSkewSeconds = newValue } }
    }
}
