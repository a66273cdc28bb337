import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// Closes a connection that does not deliver a complete request head in time: within
/// `header` of opening, within `idle` of its last response. A slow or silent client
/// (slowloris) thus holds its connection for a bounded time; a request being handled
/// is bounded by the request deadline instead.
final class RequestHeadTimeout: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let header: TimeAmount
    private let idle: TimeAmount
    private var timer: Scheduled<Void>?
    private var inFlight = 0

    init(header: Duration, idle: Duration) {
        self.header = TimeAmount(header)
        self.idle = TimeAmount(idle)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive, timer == nil { arm(context, after: header) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if timer == nil { arm(context, after: header) }
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            inFlight += 1
            disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            // A response to no request head (a parse error's 400) must not leave it negative.
            inFlight = max(0, inFlight - 1)
            if inFlight == 0 { arm(context, after: idle) }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, after delay: TimeAmount) {
        timer?.cancel()
        let context = context.loopBound
        timer = context.value.eventLoop.assumeIsolated().scheduleTask(in: delay) {
            context.value.close(promise: nil)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
