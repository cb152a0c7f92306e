import ClearingAPI
import Foundation
import HTTPTypes
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// The platform on HTTP (HummingbirdCore's HTTP/1 server). Requests are
/// dispatched here rather than by Hummingbird's `Application` because the
/// platform must own its `Date` header (the clock-skew fault) and be able to
/// break a connection halfway through an answer.
public struct PlatformServer: Sendable {
    public let platform: Platform
    public let host: String
    public let port: Int
    /// Serve `/control/…` (faults, hot list, parameters, enrolment, summary). Tests only.
    public let control: Bool
    /// HTTPS instead of plain HTTP, with this server certificate and key.
    public let tls: TLSConfiguration?
    /// One line per request that reached HTTP (after any TLS handshake).
    let requestLog: RequestLog?
    let logger: Logger

    public init(platform: Platform, host: String, port: Int, control: Bool, tls: TLSConfiguration? = nil,
                requestLog: RequestLog? = nil, logger: Logger) {
        self.platform = platform
        self.host = host
        self.port = port
        self.control = control
        self.tls = tls
        self.requestLog = requestLog
        self.logger = logger
    }

    /// The server's TLS from PEM files: its certificate (chain) and private key.
    public static func tls(certificateFile: String, keyFile: String) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        return TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
    }

    public var scheme: String { tls == nil ? "http" : "https" }

    /// Runs until cancelled; `onRunning` gets the bound port (useful with port 0).
    public func run(onRunning: @escaping @Sendable (Int) async -> Void) async throws {
        let http1 = HTTPServerBuilder.http1()
        let server = try (tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: $0) } ?? http1).buildServer(
            configuration: ServerConfiguration(address: .hostname(host, port: port)),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger,
            responder: { request, writer, _ in try await self.respond(request, writer) },
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) })
        try await server.run()
    }

    private func respond(_ request: Request, _ writer: consuming ResponseWriter) async throws {
        var request = request
        requestLog?.record(scheme: scheme, method: request.method.rawValue, path: request.uri.path,
                           bearer: request.headers[.authorization] != nil)
        let body = Data((try await request.collectBody(upTo: 16 << 20)).readableBytesView)
        let path = request.uri.path
        var fault: Fault?
        let reply: Reply
        if path.hasPrefix("/control/") {
            reply = control ? controlReply(request, path: path, body: body) : Reply(status: 404, body: Data())
        } else {
            fault = platform.faults.take(path: path)
            reply = await contractReply(request, path: path, body: body, fault: fault)
        }
        var fields = HTTPFields()
        fields[.date] = Self.httpDate(Date().addingTimeInterval(Double(platform.faults.clockSkewSeconds)))
        fields[.contentLength] = String(reply.body.count)
        if !reply.body.isEmpty { fields[.contentType] = "application/json" }
        for (name, value) in reply.headers { if let name = HTTPField.Name(name) { fields[name] = value } }
        let head = HTTPResponse(status: .init(code: reply.status), headerFields: fields)
        if fault?.kind == .closeMidResponse {
            // The answer was decided (and stored); the connection dies before the client has it.
            let half = ByteBuffer(bytes: reply.body.prefix(reply.body.count / 2))
            try await writer.write(response: head, body: ResponseBody(contentLength: reply.body.count) { bodyWriter in
                try await bodyWriter.write(half)
                throw CancellationError()
            })
            return
        }
        try await writer.write(response: head, body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply.body)))
    }

    private func contractReply(_ request: Request, path: String, body: Data, fault: Fault?) async -> Reply {
        if let fault {
            switch fault.kind {
            case .busy503, .busy429:
                var reply = Reply(status: fault.kind == .busy503 ? 503 : 429, body: Data())
                if let after = fault.retryAfter { reply.headers.append(("Retry-After", String(after))) }
                return reply
            case .serverError: return Reply(status: 500, body: Data())
            case .unauthorized: return Reply(status: 401, body: Data())
            case .hang, .closeMidResponse, .omitSeq, .extraSeq: break
            }
        }
        let terminalID = request.headers[HTTPField.Name("Terminal-Id")!] ?? ""
        switch platform.access(authorization: request.headers[.authorization], terminalID: terminalID) {
        case .unauthorized: return Reply(status: 401, body: Data())
        case .forbidden: return Reply(status: 403, body: Data())
        case .allowed: break
        }
        let reply = route(request, path: path, body: body, terminalID: terminalID, fault: fault)
        if fault?.kind == .hang {
            // Processed and stored, but the answer is held back: the terminal
            // cannot know the records arrived (the worst case for exactly-once).
            FileHandle.standardOutput.write(Data("holding the answer to \(path)\n".utf8))
            try? await Task.sleep(for: .seconds(fault?.seconds ?? 60))
        }
        return reply
    }

    private func route(_ request: Request, path: String, body: Data, terminalID: String, fault: Fault?) -> Reply {
        switch (request.method, path) {
        case (.post, "/v1/records"):
            var reply = platform.upload(terminalID: terminalID, body: body)
            if reply.status == 200, let fault, var answer = try? JSONDecoder().decode(UploadResponse.self, from: reply.body) {
                if fault.kind == .omitSeq, let sent = Self.lastSeq(body) {
                    answer.accepted.removeAll { $0 == sent }
                    answer.duplicates.removeAll { $0 == sent }
                    answer.rejected.removeAll { $0.seq == sent }
                }
                if fault.kind == .extraSeq, let sent = Self.lastSeq(body) { answer.accepted.append(sent + 1) }
                reply = .json(answer)
            }
            return reply
        case (.get, "/v1/blacklist"):
            guard let since = request.uri.queryParameters["since"].flatMap({ Int($0) }), since >= 0 else {
                return .refusal(400, "since must be a version number")
            }
            return platform.hotList(since: since)
        case (.get, "/v1/parameters"):
            return platform.parameters(ifNoneMatch: request.headers[.ifNoneMatch])
        case (.post, "/v1/settlements"):
            return platform.settle(terminalID: terminalID, body: body)
        case (.post, "/v1/loads"):
            return platform.load(terminalID: terminalID, body: body)
        default:
            return Reply(status: 404, body: Data())
        }
    }

    static func lastSeq(_ body: Data) -> Int? {
        struct Seqs: Decodable { struct One: Decodable { var seq: Int }; var records: [One] }
        return (try? JSONDecoder().decode(Seqs.self, from: body))?.records.last?.seq
    }

    // MARK: - Control (tests and the bench)

    struct Enrolment: Codable { var terminal_id: String; var token: String }
    struct HotListChange: Codable { var add: [String]?; var remove: [String]?; var listed_at: String? }
    struct Clock: Codable { var skew_seconds: Int }

    private func controlReply(_ request: Request, path: String, body: Data) -> Reply {
        let decoder = JSONDecoder()
        do {
            switch (request.method, path) {
            case (.post, "/control/fault"):
                platform.faults.add(try decoder.decode(Fault.self, from: body))
            case (.delete, "/control/fault"):
                platform.faults.clear()
            case (.post, "/control/clock"):
                platform.faults.clockSkewSeconds = try decoder.decode(Clock.self, from: body).skew_seconds
            case (.post, "/control/terminals"):
                let enrolment = try decoder.decode(Enrolment.self, from: body)
                try platform.enroll(terminalID: enrolment.terminal_id, token: enrolment.token)
            case (.post, "/control/hotlist"):
                let change = try decoder.decode(HotListChange.self, from: body)
                let version = try platform.changeHotList(add: change.add ?? [], remove: change.remove ?? [],
                                                         listedAt: change.listed_at ?? "00000000000000")
                return .json(["version": version])
            case (.put, "/control/parameters"):
                try platform.setParameters(try decoder.decode(Parameters.self, from: body))
            case (.delete, "/control/records"):
                // Simulates a platform that lost a record: settlement must find it missing.
                let terminal = request.uri.queryParameters["terminal_id"].map(String.init) ?? ""
                guard let seq = request.uri.queryParameters["seq"].flatMap({ Int($0) }) else { return .refusal(400, "seq wanted") }
                try platform.forget(terminalID: terminal, seq: seq)
            case (.get, "/control/summary"):
                let terminal = request.uri.queryParameters["terminal_id"].map(String.init) ?? ""
                return .json(try platform.summary(terminalID: terminal))
            default:
                return Reply(status: 404, body: Data())
            }
            return .json(["ok": true])
        } catch {
            return .refusal(400, "\(error)")
        }
    }

    /// RFC 9110 IMF-fixdate.
    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }
}

/// The platform's request log: scheme, method, path and whether a bearer
/// token came with it (never the token), one line per request, appended.
public final class RequestLog: Sendable {
    private let file: Mutex<FileHandle>

    public init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw CocoaError(.fileWriteUnknown) }
        handle.seekToEndOfFile()
        file = Mutex(handle)
    }

    func record(scheme: String, method: String, path: String, bearer: Bool) {
        let line = "\(scheme) \(method) \(path) bearer=\(bearer ? "present" : "absent")\n"
        file.withLock { $0.write(Data(line.utf8)) }
    }
}
