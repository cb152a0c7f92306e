import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// One HTTP/1.1 request and its answer on a connection of its own, through
/// SwiftNIO's HTTP codec, over NIOSSL when given a TLS context. The clearing
/// contract is five small JSON calls every few seconds at most: no pool, no
/// HTTP/2, no redirects (a 3xx is an answer like any other), so the firmware
/// links none of that (async-http-client brought HTTP/2, SOCKS, compression
/// and a second copy of nothing it needed).
enum HTTP1Exchange {
    struct Response {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    enum Failure: Error, CustomStringConvertible {
        /// No answer (connection, TLS, request and answer together) within the deadline.
        case timeout
        /// The answer's body is larger than the caller accepts.
        case answerTooLarge(Int)
        /// The connection closed before a whole answer came.
        case closedEarly

        var description: String {
            switch self {
            case .timeout: "no answer in time"
            case .answerTooLarge(let limit): "the answer is larger than \(limit) bytes"
            case .closedEarly: "the connection closed before the whole answer came"
            }
        }
    }

    /// `head` (its Host, Content-Length and Connection headers are set here)
    /// and `body` to `host:port`; the answer, whole, within `timeout`.
    static func perform(host: String, port: Int, tls: NIOSSLContext?, head: HTTPRequestHead, body: ByteBuffer?,
                        timeout: TimeAmount, maxAnswerBytes: Int) async throws -> Response {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let answer = eventLoop.makePromise(of: Response.self)
        // One deadline for all of it; whatever is still under way then is abandoned.
        let deadline = eventLoop.scheduleTask(in: timeout) { answer.fail(Failure.timeout) }
        defer { deadline.cancel() }
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOSSLClientHandler(context: tls, serverHostname: HostForm.serverName(host)))
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(AnswerCollector(answer: answer, maxBytes: maxAnswerBytes))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            answer.fail(error)
            throw error
        }
        answer.futureResult.whenComplete { _ in channel.close(promise: nil) }
        var head = head
        head.headers.replaceOrAdd(name: "Host", value: HostForm(host) == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)")
        head.headers.replaceOrAdd(name: "Content-Length", value: "\(body?.readableBytes ?? 0)")
        head.headers.replaceOrAdd(name: "Connection", value: "close")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil)).cascadeFailure(to: answer)
        return try await answer.futureResult.get()
    }
}

/// Gathers the answer's head and body; fails the answer on an error, a body
/// over the limit, or the connection closing first.
private final class AnswerCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let answer: EventLoopPromise<HTTP1Exchange.Response>
    private let maxBytes: Int
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    init(answer: EventLoopPromise<HTTP1Exchange.Response>, maxBytes: Int) {
        self.answer = answer
        self.maxBytes = maxBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head) where head.status == .continue:
            break  // 100 Continue: the real head follows
        case .head(let head):
            self.head = head
        case .body(var part):
            guard body.readableBytes + part.readableBytes <= maxBytes else {
                answer.fail(HTTP1Exchange.Failure.answerTooLarge(maxBytes))
                context.close(promise: nil)
                return
            }
            body.writeBuffer(&part)
        case .end:
            guard let head else { return answer.fail(HTTP1Exchange.Failure.closedEarly) }
            answer.succeed(HTTP1Exchange.Response(status: head.status, headers: head.headers, body: body))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        answer.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        answer.fail(HTTP1Exchange.Failure.closedEarly)  // (no effect once the answer is complete)
        context.fireChannelInactive()
    }
}
