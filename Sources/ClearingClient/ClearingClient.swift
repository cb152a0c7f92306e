import ClearingAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The clearing platform over HTTP(S) (`HTTP1Exchange`). Every request
/// carries the bearer token and `Terminal-Id`; the token never reaches a log
/// line, and over HTTPS it is sent only on a connection whose certificate
/// verified against the provisioned anchor.
public struct ClearingClient: ClearingService {
    public let endpoint: ClearingEndpoint
    public let timeout: TimeAmount
    private let trust: PlatformTrust?
    private let logger: Logger

    /// Largest answer body read; the contract's answers are small (a full hot list is the largest).
    static let maxAnswerBytes = 64 << 20

    public struct NoTrustAnchor: Error, CustomStringConvertible {
        public var description: String {
            "the clearing platform is HTTPS but no clearing CA is provisioned: provision the terminal with its platform's CA (posd-tech provision --clearing-ca)"
        }
    }

    /// An HTTPS endpoint needs `trust`; plain HTTP (loopback only, by the
    /// endpoint's own rule) has none.
    public init(endpoint: ClearingEndpoint, trust: PlatformTrust?, timeout: Duration = .seconds(15), logger: Logger) throws(NoTrustAnchor) {
        let https = endpoint.baseURL.scheme?.lowercased() == "https"
        if https && trust == nil { throw NoTrustAnchor() }
        self.endpoint = endpoint
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        self.trust = https ? trust : nil
        self.logger = logger
    }

    /// One TLS context per trust anchor for the life of the process (a
    /// terminal talks to one platform). No request follows a redirect: the
    /// token goes to the provisioned URL only. A failed connection fails its
    /// request at once; the uploader's backoff decides when to try again.
    private static let contexts = Mutex<[[UInt8]: NIOSSLContext]>([:])

    private static func context(trusting trust: PlatformTrust) throws -> NIOSSLContext {
        try contexts.withLock { contexts in
            if let context = contexts[trust.pem] { return context }
            let context = try NIOSSLContext(configuration: trust.clientConfiguration)
            contexts[trust.pem] = context
            return context
        }
    }

    public func upload(_ records: [WireRecord]) async throws(ClearingError) -> Answer<UploadResponse> {
        try await call(.POST, "/v1/records", body: UploadRequest(terminalID: endpoint.terminalID, records: records))
    }

    public func hotList(since version: Int) async throws(ClearingError) -> Answer<HotListUpdate> {
        try await call(.GET, "/v1/blacklist?since=\(version)", body: Optional<Refusal>.none)
    }

    public func parameters(ifNoneMatch etag: String?) async throws(ClearingError) -> Answer<ParametersAnswer> {
        let (status, headers, body, date) = try await exchange(.GET, "/v1/parameters", body: nil,
                                                                extraHeaders: etag.map { [("If-None-Match", $0)] } ?? [])
        if status == .notModified { return Answer(body: .unchanged, serverDate: date) }
        try Self.check(status, headers, body)
        let parameters: Parameters = try Self.decode(body)
        return Answer(body: .changed(parameters, etag: headers.first(name: "ETag")), serverDate: date)
    }

    public func settle(_ request: SettlementRequest) async throws(ClearingError) -> Answer<SettlementResponse> {
        try await call(.POST, "/v1/settlements", body: request)
    }

    public func authorizeLoad(_ request: LoadRequest) async throws(ClearingError) -> Answer<LoadResponse> {
        try await call(.POST, "/v1/loads", body: request)
    }

    // MARK: - HTTP

    private func call<Request: Encodable, Response: Decodable>(
        _ method: HTTPMethod, _ path: String, body: Request?
    ) async throws(ClearingError) -> Answer<Response> {
        let encoded: Data?
        do { encoded = try body.map { try JSONEncoder().encode($0) } } catch {
            throw .badRequest("could not encode: \(error)")
        }
        let (status, headers, answer, date) = try await exchange(method, path, body: encoded, extraHeaders: [])
        try Self.check(status, headers, answer)
        return Answer(body: try Self.decode(answer), serverDate: date)
    }

    private func exchange(_ method: HTTPMethod, _ path: String, body: Data?, extraHeaders: [(String, String)])
        async throws(ClearingError) -> (HTTPResponseStatus, HTTPHeaders, ByteBuffer, Date?)
    {
        var request = HTTPRequestHead(version: .http1_1, method: method, uri: endpoint.requestTarget(path))
        request.headers.add(name: "Authorization", value: endpoint.authorization)
        request.headers.add(name: "Terminal-Id", value: endpoint.terminalID)
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in extraHeaders { request.headers.add(name: name, value: value) }
        if body != nil { request.headers.add(name: "Content-Type", value: "application/json") }
        guard let host = endpoint.baseURL.host, !host.isEmpty else { throw .transport("the clearing URL names no host") }
        let started = ContinuousClock.now
        do {
            let tls = try trust.map(Self.context(trusting:))
            let response = try await HTTP1Exchange.perform(
                host: host, port: endpoint.baseURL.port ?? (tls == nil ? 80 : 443), tls: tls, head: request,
                body: body.map { ByteBuffer(bytes: $0) }, timeout: timeout, maxAnswerBytes: Self.maxAnswerBytes)
            let answer = response.body
            let elapsed = ContinuousClock.now - started
            logger.debug("clearing call", metadata: [
                "call": "\(method) \(path.split(separator: "?").first ?? "")", "status": "\(response.status.code)",
                "ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
            let date = response.headers.first(name: "Date").flatMap(Self.httpDate)
            return (response.status, response.headers, answer, date)
        } catch HTTP1Exchange.Failure.timeout {
            throw .timeout
        } catch ChannelError.connectTimeout {
            throw .timeout
        } catch let error as NIOSSLExtraError where error == .failedToValidateHostname {
            throw .untrusted(CertificateRefusal.wrongHost(endpoint.baseURL.host ?? "").description)
        } catch let error as NIOSSLError {
            guard case .handshakeFailed(let reason) = error, "\(reason)".contains("CERTIFICATE_VERIFY_FAILED"), trust != nil,
                  let host = endpoint.baseURL.host
            else { throw .transport("TLS: \(error)") }
            let refusal = await PresentedCertificate.refusal(host: host, port: endpoint.baseURL.port ?? 443)
            throw .untrusted(refusal.description)
        } catch {
            throw .transport("\(error)")
        }
    }

    /// Maps a non-200 status to what the terminal does about it.
    static func check(_ status: HTTPResponseStatus, _ headers: HTTPHeaders, _ body: ByteBuffer) throws(ClearingError) {
        switch status.code {
        case 200: return
        case 401, 403: throw .configuration(status: Int(status.code))
        case 429, 503: throw .busy(status: Int(status.code), retryAfter: headers.first(name: "Retry-After").flatMap { Int($0) })
        case 400: throw .badRequest((try? decode(body) as Refusal)?.reason ?? "no reason given")
        case 402: throw .refused((try? decode(body) as Refusal)?.reason ?? "no reason given")
        default: throw .status(Int(status.code))
        }
    }

    static func decode<T: Decodable>(_ body: ByteBuffer) throws(ClearingError) -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(body.readableBytesView)) } catch {
            throw .malformedAnswer("\(T.self): \(error)")
        }
    }

    /// RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the one form a
    /// server may send; nil for anything else, the obsolete forms included.
    static func httpDate(_ text: String) -> Date? {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false)
        let clock = parts.count == 6 ? parts[4].split(separator: ":", omittingEmptySubsequences: false) : []
        guard parts.count == 6, weekdays.contains(String(parts[0])), parts[5] == "GMT", clock.count == 3,
              let day = number(parts[1], digits: 2), let month = months.firstIndex(of: String(parts[2])),
              let year = number(parts[3], digits: 4), let hour = number(clock[0], digits: 2),
              let minute = number(clock[1], digits: 2), let second = number(clock[2], digits: 2),
              hour < 24, minute < 60, second <= 60
        else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        guard let date = calendar.date(from: DateComponents(year: year, month: month + 1, day: day, hour: hour, minute: minute, second: second)),
              calendar.component(.day, from: date) == day  // not 31 Feb
        else { return nil }
        return date
    }

    private static let weekdays = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    private static func number(_ text: Substring, digits: Int) -> Int? {
        guard text.utf8.count == digits, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(text)
    }

}
