import CustosCluster
import CustosCrypto
import CustosPKI
import Foundation
import Hummingbird
import Logging
import Testing

@testable import CustosServer

/// Two in-process replicas on loopback, each with a P-384 key and a self-signed certificate,
/// knowing each other only by pin: a call goes through and the listener names the caller by its
/// pin; a stranger's certificate, a wrong pin and an oversized body are refused.
@Suite("Cluster peer transport")
struct PeerTransportTests {
    struct Endpoint {
        let identity: PeerTLSIdentity
        let tls: PeerTLS
        var pin: PublicKeyPin { try! identity.pin }

        init(_ name: String) async throws {
            identity = try await PeerTLSIdentity.selfSigned(try SigningPrivateKey(generating: .ecdsaP384SHA384), name: name)
            tls = PeerTLS(directory: PeerDirectory())
            try tls.install(identity)
        }
    }

    /// The listener answers with the caller's id (a replica's, or 100 + a client's) followed by the request bytes.
    func withListener(_ endpoint: Endpoint, _ body: (Int) async throws -> Void) async throws {
        let listener = PeerListener(host: "127.0.0.1", port: 0, tls: endpoint.tls, handler: { request, from in
            if request == [0xFF] { throw PeerTransportError.badAddress }
            switch from {
            case .replica(let replica): return [UInt8(replica.rawValue)] + request
            case .client(let client): return [100 + UInt8(client.rawValue)] + request
            }
        }, logger: Logger(label: "test"))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = listener.application { continuation.yield($0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            defer { group.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            try await body(port)
        }
    }

    @Test func pinnedReplicasTalkAndTheListenerNamesTheCallerByItsPin() async throws {
        let a = try await Endpoint("replica 0"), b = try await Endpoint("replica 1")
        try await withListener(b) { (port: Int) async throws in
            b.tls.directory.update([ReplicaID(0): .init(address: "127.0.0.1:1", pins: [a.pin]), ReplicaID(1): .init(address: "127.0.0.1:\(port)", pins: [b.pin])])
            a.tls.directory.update([ReplicaID(1): .init(address: "127.0.0.1:\(port)", pins: [b.pin])])
            let client = PinnedPeerClient(tls: a.tls)
            #expect(try await client.send([1, 2, 3], to: ReplicaID(1)) == [0, 1, 2, 3])
            // An empty request and a request of exactly the limit both pass.
            #expect(try await client.send([], to: ReplicaID(1)) == [0])
            let full = [UInt8](repeating: 7, count: PeerListener.maxBodyBytes)
            #expect(try await client.send(full, to: ReplicaID(1)) == [0] + full)

            // The same caller listed under another id (its new key scheduled) is named so.
            b.tls.directory.update([ReplicaID(2): .init(address: "127.0.0.1:1", pins: [a.pin])])
            #expect(try await client.send([9], to: ReplicaID(1)) == [2, 9])
        }
    }

    @Test func aClientNodeIsNamedByItsTLSPinAndDroppedWithIt() async throws {
        let client = try await Endpoint("client 3"), b = try await Endpoint("replica 1"), other = try await Endpoint("client 4")
        try await withListener(b) { (port: Int) async throws in
            // The client knows the replica by its pin from the log; the replica lists the client's TLS pins.
            client.tls.directory.update([ReplicaID(1): .init(address: "127.0.0.1:\(port)", pins: [b.pin])])
            other.tls.directory.update([ReplicaID(1): .init(address: "127.0.0.1:\(port)", pins: [b.pin])])
            b.tls.directory.update(clients: [ClientID(3): [client.pin]])
            #expect(try await PinnedPeerClient(tls: client.tls).send([5], to: ReplicaID(1)) == [103, 5])
            // Another client's key is not client 3's: refused at the handshake.
            await #expect(throws: PeerTransportError.self) { try await PinnedPeerClient(tls: other.tls).send([5], to: ReplicaID(1)) }
            // Removed (no longer listed): refused at its next handshake.
            b.tls.directory.update(clients: [:])
            await #expect(throws: PeerTransportError.self) { try await PinnedPeerClient(tls: client.tls).send([5], to: ReplicaID(1)) }
        }
        // A pin listed for a replica names the replica, whatever the client table says.
        let directory = PeerDirectory([ReplicaID(2): .init(address: "127.0.0.1:1", pins: [client.pin])], clients: [ClientID(3): [client.pin, other.pin]])
        #expect(directory.node(presenting: client.pin) == .replica(ReplicaID(2)))
        #expect(directory.node(presenting: other.pin) == .client(ClientID(3)))
        #expect(directory.node(presenting: b.pin) == nil)
    }

    @Test func aWatchLogCallMayWaitOnTheServerBeyondThePeerTimeout() {
        #expect(PinnedPeerClient.serverWait(PeerRequest.watchLog(after: 3, limit: 10, waitMilliseconds: 20_000).encoded) == .seconds(20))
        #expect(PinnedPeerClient.serverWait(PeerRequest.status.encoded) == .zero)
        #expect(PinnedPeerClient.verifiesItself(PeerRequest.watchLog(after: 0, limit: 1, waitMilliseconds: 0).encoded))
        #expect(!PinnedPeerClient.verifiesItself(PeerRequest.submitClientRecord([1]).encoded))
    }

    @Test func aStrangersCertificateIsRefusedAtTheHandshake() async throws {
        let a = try await Endpoint("replica 0"), b = try await Endpoint("replica 1"), stranger = try await Endpoint("stranger")
        try await withListener(b) { (port: Int) async throws in
            b.tls.directory.update([ReplicaID(0): .init(address: "127.0.0.1:1", pins: [a.pin])])
            // The stranger knows b's pin, but b does not know the stranger's.
            stranger.tls.directory.update([ReplicaID(1): .init(address: "127.0.0.1:\(port)", pins: [b.pin])])
            await #expect(throws: PeerTransportError.self) { try await PinnedPeerClient(tls: stranger.tls).send([1], to: ReplicaID(1)) }
            // The listed caller still gets through.
            a.tls.directory.update([ReplicaID(1): .init(address: "127.0.0.1:\(port)", pins: [b.pin])])
            #expect(try await PinnedPeerClient(tls: a.tls).send([1], to: ReplicaID(1)) == [0, 1])
            // Taken off the table, the caller is refused at its next handshake.
            b.tls.directory.update([:])
            await #expect(throws: PeerTransportError.self) { try await PinnedPeerClient(tls: a.tls).send([1], to: ReplicaID(1)) }
        }
    }

    @Test func aServerPresentingAnotherPinIsRefusedByTheClient() async throws {
        let a = try await Endpoint("replica 0"), b = try await Endpoint("replica 1"), other = try await Endpoint("other")
        try await withListener(b) { (port: Int) async throws in
            b.tls.directory.update([ReplicaID(0): .init(address: "127.0.0.1:1", pins: [a.pin])])
            // a expects replica 1 to hold `other`'s key: b's certificate does not match.
            a.tls.directory.update([ReplicaID(1): .init(address: "127.0.0.1:\(port)", pins: [other.pin])])
            let error = await #expect(throws: PeerTransportError.self) { try await PinnedPeerClient(tls: a.tls).send([1], to: ReplicaID(1)) }
            guard case .connectionFailed(let replica, _) = error else {
                Issue.record("expected a refused handshake, got \(String(describing: error))")
                return
            }
            #expect(replica == ReplicaID(1))
            // An id the directory does not list is not called at all.
            await #expect(throws: PeerTransportError.unknownPeer(ReplicaID(5))) { try await PinnedPeerClient(tls: a.tls).send([1], to: ReplicaID(5)) }
        }
    }

    @Test func oversizedBodiesErrorsAndLargeResponsesAreRefused() async throws {
        let a = try await Endpoint("replica 0"), b = try await Endpoint("replica 1")
        try await withListener(b) { (port: Int) async throws in
            b.tls.directory.update([ReplicaID(0): .init(address: "127.0.0.1:1", pins: [a.pin])])
            a.tls.directory.update([ReplicaID(1): .init(address: "127.0.0.1:\(port)", pins: [b.pin])])
            let client = PinnedPeerClient(tls: a.tls)
            let tooLarge = [UInt8](repeating: 1, count: PeerListener.maxBodyBytes + 1)
            let refused = await #expect(throws: PeerTransportError.self) { try await client.send(tooLarge, to: ReplicaID(1)) }
            if case .refused(_, let status, _) = refused { #expect(status == 413) } else { Issue.record("expected 413, got \(String(describing: refused))") }
            // The handler's error comes back as a refusal with its reason.
            let failed = await #expect(throws: PeerTransportError.self) { try await client.send([0xFF], to: ReplicaID(1)) }
            if case .refused(_, let status, let reason) = failed {
                #expect(status == 422 && reason.contains("host:port"))
            } else {
                Issue.record("expected 422, got \(String(describing: failed))")
            }
            // A response over the client's bound is refused.
            var small = client
            small.maxResponseBytes = 100
            await #expect(throws: PeerTransportError.responseTooLarge(ReplicaID(1), limit: 100)) {
                try await small.send([UInt8](repeating: 2, count: 200), to: ReplicaID(1))
            }
        }
    }

    @Test func aPeerThatNeverAnswersTimesOut() async throws {
        let a = try await Endpoint("replica 0")
        // A listening socket that accepts and never speaks TLS.
        let server = try await ServerBootstrapHelper.silentListener()
        defer { try? server.close().wait() }
        a.tls.directory.update([ReplicaID(1): .init(address: "127.0.0.1:\(server.localAddress!.port!)", pins: [a.pin])])
        var client = PinnedPeerClient(tls: a.tls)
        client.timeout = .milliseconds(300)
        await #expect(throws: PeerTransportError.timedOut(ReplicaID(1))) { try await client.send([1], to: ReplicaID(1)) }
    }

    @Test func addressesParse() throws {
        #expect(try PeerAddress(parsing: "127.0.0.1:9443") == PeerAddress(host: "127.0.0.1", port: 9443))
        #expect(try PeerAddress(parsing: "[::1]:9443") == PeerAddress(host: "::1", port: 9443))
        for bad in ["127.0.0.1", ":9443", "host:0", "host:70000", "[::1]9443", "host:x"] {
            #expect(throws: PeerTransportError.badAddress) { try PeerAddress(parsing: bad) }
        }
    }
}

import NIOCore
import NIOPosix

enum ServerBootstrapHelper {
    /// Accepts connections and never writes a byte.
    static func silentListener() async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { $0.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
    }
}
