import AsyncHTTPClient
import ClearingAPI
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// The clearing platform over HTTP(S) (async-http-client). Every request
/// carries the bearer token and `Terminal-Id`; the token never reaches a log
/// line, and over HTTPS it is sent only on a connection whose certificate
/// verified against the provisioned anchor.
public struct ClearingClient: ClearingService {
    public let endpoint: ClearingEndpoint
    public let timeout: TimeAmount
    private let trust: PlatformTrust?
    private let http: HTTPClient
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
        self.http = Self.client(trusting: self.trust)
        self.logger = logger
    }

    /// One HTTP client per trust anchor for the life of the process (a
    /// terminal talks to one platform; its connections are reused). None
    /// follows a redirect: the token goes to the provisioned URL only. A
    /// failed connection fails its request at once; the uploader's backoff
    /// decides when to try again.
    private static let clients = Mutex<[[UInt8]: HTTPClient]>([:])

    private static func client(trusting trust: PlatformTrust?) -> HTTPClient {
        clients.withLock { clients in
            let key = trust?.pem ?? []
            if let client = clients[key] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.tlsConfiguration = trust?.clientConfiguration
            configuration.redirectConfiguration = .disallow
            configuration.httpVersion = .http1Only
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
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
        var request = HTTPClientRequest(url: endpoint.url(path))
        request.method = method
        request.headers.add(name: "Authorization", value: endpoint.authorization)
        request.headers.add(name: "Terminal-Id", value: endpoint.terminalID)
        request.headers.add(name: "Accept", value: "application/json")
        for (name, value) in extraHeaders { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let started = ContinuousClock.now
        do {
            let response = try await http.execute(request, timeout: timeout)
            let answer = try await response.body.collect(upTo: Self.maxAnswerBytes)
            let elapsed = ContinuousClock.now - started
            logger.debug("clearing call", metadata: [
                "call": "\(method) \(path.split(separator: "?").first ?? "")", "status": "\(response.status.code)",
                "ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
            let date = response.headers.first(name: "Date").flatMap(Self.httpDate)
            return (response.status, response.headers, answer, date)
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
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
            throw .transport(Self.describe(error))
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

    /// RFC 9110 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }

    static func describe(_ error: Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: error)
    }
}
