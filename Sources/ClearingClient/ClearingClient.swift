import AsyncHTTPClient
import ClearingAPI
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// The clearing platform over HTTP (async-http-client). Every request carries
/// the bearer token and `Terminal-Id`; the token never reaches a log line.
public struct ClearingClient: ClearingService {
    public let endpoint: ClearingEndpoint
    public let timeout: TimeAmount
    private let http: HTTPClient
    private let logger: Logger

    /// Largest answer body read; the contract's answers are small (a full hot list is the largest).
    static let maxAnswerBytes = 64 << 20

    public init(endpoint: ClearingEndpoint, timeout: Duration = .seconds(15), http: HTTPClient = .shared, logger: Logger) {
        self.endpoint = endpoint
        self.timeout = .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)
        self.http = http
        self.logger = logger
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
        if let problem = parameters.problem { throw .malformedAnswer("parameters: \(problem)") }
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
