#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a call to the clearing platform did not give an answer to act on. Each
/// case says what the terminal does next; none loses a record.
public enum ClearingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 401 or 403: the token or enrolment is wrong. Retrying soon will not
    /// help; a technician must act (shown on the display and in diagnostics).
    case configuration(status: Int)
    /// 429 or 503: overloaded; try again no sooner than `retryAfter` seconds if given.
    case busy(status: Int, retryAfter: Int?)
    /// 400: the platform says the request is malformed (our fault): reported, retried with backoff.
    case badRequest(String)
    /// 402 on a load: refused by the platform's limits.
    case refused(String)
    /// Any other status.
    case status(Int)
    /// No answer in time.
    case timeout
    /// Could not connect, or the connection broke.
    case transport(String)
    /// The platform's TLS certificate did not verify against the provisioned
    /// CA (or is not for the platform's host): nothing was sent. A technician
    /// must act, as for `configuration`, but delivery keeps retrying: the
    /// network that stood in for the platform may go away.
    case untrusted(String)
    /// A 200 whose body is not the contract's shape.
    case malformedAnswer(String)

    /// Retrying soon will not help: the token, the enrolment or the
    /// certificate is wrong until someone changes it.
    public var needsTechnician: Bool {
        switch self {
        case .configuration, .untrusted: true
        default: false
        }
    }

    public var description: String {
        switch self {
        case .configuration(let status): "clearing platform refused this terminal (HTTP \(status)): check its token and enrolment"
        case .busy(let status, let after): "clearing platform busy (HTTP \(status))" + (after.map { ", retry after \($0) s" } ?? "")
        case .badRequest(let reason): "clearing platform rejected the request as malformed: \(reason)"
        case .refused(let reason): "refused by the clearing platform: \(reason)"
        case .status(let status): "clearing platform answered HTTP \(status)"
        case .timeout: "clearing platform did not answer in time"
        case .transport(let why): "clearing platform unreachable: \(why)"
        case .untrusted(let why): "clearing platform not trusted, nothing sent: \(why)"
        case .malformedAnswer(let why): "clearing platform answer malformed: \(why)"
        }
    }
}

/// A platform answer and the platform's clock (`Date` header), for clock correction.
public struct Answer<Body: Sendable>: Sendable {
    public var body: Body
    public var serverDate: Date?

    public init(body: Body, serverDate: Date?) {
        self.body = body
        self.serverDate = serverDate
    }
}

/// `GET /v1/parameters`: new parameters with their ETag, or unchanged (304).
public enum ParametersAnswer: Sendable, Equatable {
    case changed(Parameters, etag: String?)
    case unchanged
}

/// The clearing platform as the terminal sees it: one method per call of the
/// contract. `ClearingClient` implements it over HTTP.
public protocol ClearingService: Sendable {
    func upload(_ records: [WireRecord]) async throws(ClearingError) -> Answer<UploadResponse>
    func hotList(since version: Int) async throws(ClearingError) -> Answer<HotListUpdate>
    func parameters(ifNoneMatch etag: String?) async throws(ClearingError) -> Answer<ParametersAnswer>
    func settle(_ request: SettlementRequest) async throws(ClearingError) -> Answer<SettlementResponse>
    func authorizeLoad(_ request: LoadRequest) async throws(ClearingError) -> Answer<LoadResponse>
}
