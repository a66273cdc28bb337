import HummingbirdCore
import Logging
import NIOCore
import NIOSSL

/// HummingbirdTLS's TLSChannel, except that each new connection takes the context
/// current at accept time from `holder`, so a reload applies to the next handshake.
struct ReloadableTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base
    let holder: TLSContextHolder

    struct NotReady: Error {}

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        guard let active = holder.current else {
            channel.close(promise: nil)
            return channel.eventLoop.makeFailedFuture(NotReady())
        }
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(
                NIOSSLServerHandler(context: active.context, customVerificationCallback: active.verification, configuration: .init()))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}
