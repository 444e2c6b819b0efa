import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Per-connection duties Hummingbird leaves to the application, in the channel pipeline between
/// the HTTP codec and Hummingbird's connection-state handler:
///
/// - **`Expect: 100-continue`** is answered with `100 Continue` as soon as the request head
///   arrives, so clients that wait for it (curl does, for bodies over 1 MB) send their body at once
///   instead of after their own timeout.
/// - **A close waits for the answer to be written.** When a connection is closed after its last
///   response (graceful shutdown closes every connection once its response ends), the close is held
///   until every write before it has reached the socket, bounded by `flushTimeout` without progress
///   (Hummingbird's idle timer closes a connection `--idle-timeout` after an answer was queued, so a
///   client still reading a large answer kept it only that long plus `flushTimeout`: 70 s by default,
///   a 268 MB answer below 3.8 MB/s was cut); during a drain, until the shutdown grace ends instead
///   (at least `lastFlush`), so a slow reader keeps the whole grace and the process still exits
///   within it. Without this a large answer still in the channel's buffer is discarded and the
///   client sees a truncated body.
/// - **The client's departure is announced** (`ClientPresence`): when the peer closes its side of the
///   connection, calls still waiting for a worker are dropped instead of computed for nobody.
/// - **Whether the request's body has all arrived** (`ClientPresence.bodyHasArrived`), so reading a body
///   that is already here needs no timer.
final class ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// How long a close may wait for earlier writes (a client that stopped reading loses its answer).
    static let flushTimeout = TimeAmount.seconds(10)
    /// How long a close may wait once the shutdown grace is over: long enough to write the
    /// `503 shutting_down` answers of calls cut off by its end.
    static let lastFlush = TimeAmount.seconds(1)
    /// Larger body parts are written in slices of this size, so that a large answer shows progress
    /// (a write completes only once all of it is in the socket).
    static let progressSlice = 1 << 20

    let presence = ClientPresence()
    /// The process's readiness, whose `graceEnd` bounds closes during a drain.
    private let readiness: Readiness

    init(readiness: Readiness) {
        self.readiness = readiness
    }

    private var unfinishedWrites = 0
    private var finishedWrites = 0
    private var heldClose: EventLoopPromise<Void>?
    private var closeTimeout: Scheduled<Void>?

    func handlerAdded(context: ChannelHandlerContext) {
        presence.attach(to: context.eventLoop)
        ClientPresence.register(presence, for: context.channel)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ClientPresence.unregister(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            presence.headArrived()
            if head.headerFields[.expect]?.lowercased() == "100-continue" {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
            }
        case .body:
            break
        case .end:
            presence.endArrived()
        }
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent {
            presence.leave()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        presence.leave()
        ClientPresence.unregister(context.channel)
        context.fireChannelInactive()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .body(var buffer) = unwrapOutboundIn(data), buffer.readableBytes > Self.progressSlice else {
            counted(context: context, data: data, promise: promise)
            return
        }
        while buffer.readableBytes > Self.progressSlice, let slice = buffer.readSlice(length: Self.progressSlice) {
            counted(context: context, data: wrapOutboundOut(.body(slice)), promise: nil)
        }
        counted(context: context, data: wrapOutboundOut(.body(buffer)), promise: promise)
    }

    private func counted(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        unfinishedWrites += 1
        if unfinishedWrites == 1 { presence.writesBegan() }
        let written = promise ?? context.eventLoop.makePromise()
        written.futureResult.assumeIsolated().whenComplete { _ in
            self.unfinishedWrites -= 1
            self.finishedWrites += 1
            if self.unfinishedWrites == 0 {
                self.presence.writesEnded()
                self.releaseClose(context: context)
            }
        }
        context.write(data, promise: written)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, unfinishedWrites > 0 else {
            context.close(mode: mode, promise: promise)
            return
        }
        if let heldClose {
            promise.map { heldClose.futureResult.cascade(to: $0) }
            return
        }
        heldClose = promise ?? context.eventLoop.makePromise()
        context.flush()
        holdClose(context: context, since: finishedWrites)
    }

    /// Closes after `flushTimeout`, or later while writes complete (outside a drain).
    private func holdClose(context: ChannelHandlerContext, since finished: Int) {
        let hold = readiness.graceEnd.map { max($0 - .now(), Self.lastFlush) } ?? Self.flushTimeout
        closeTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: hold) {
            if self.readiness.graceEnd == nil, self.finishedWrites > finished {
                self.holdClose(context: context, since: self.finishedWrites)
            } else {
                self.releaseClose(context: context)
            }
        }
    }

    private func releaseClose(context: ChannelHandlerContext) {
        guard let promise = heldClose else { return }
        heldClose = nil
        closeTimeout?.cancel()
        closeTimeout = nil
        context.close(mode: .all, promise: promise)
    }
}

/// Whether a connection's client is still there (calls register what to do when it leaves),
/// whether the body of its request has all arrived, and when what was written to it has been sent.
final class ClientPresence: Sendable {
    private struct State {
        var gone = false
        var next = 0
        var onLeave: [Int: @Sendable () -> Void] = [:]
        /// The connection's event loop, where its writes are made.
        var eventLoop: (any EventLoop)?
        /// Whether writes given to the connection have not all completed yet, and what waits for them.
        var writing = false
        var onWritten: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())
    /// Request heads and request ends received on the connection so far.
    private let heads = Atomic(0)
    private let ends = Atomic(0)

    /// The presence of each open connection's client, by channel, for request handlers (which do not
    /// run on the connection's event loop, where the pipeline could be asked).
    private static let connections = Mutex<[ObjectIdentifier: ClientPresence]>([:])

    static func register(_ presence: ClientPresence, for channel: any Channel) {
        connections.withLock { $0[ObjectIdentifier(channel)] = presence }
    }

    static func unregister(_ channel: any Channel) {
        connections.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// The presence registered for `channel`, nil if it has none (closed, or no `ConnectionHandler`).
    static func of(_ channel: any Channel) -> ClientPresence? {
        connections.withLock { $0[ObjectIdentifier(channel)] }
    }

    func headArrived() {
        heads.add(1, ordering: .releasing)
    }

    func endArrived() {
        ends.add(1, ordering: .releasing)
    }

    /// Whether every request whose head has arrived has also sent its end, the request being handled
    /// included: its body is then all in memory and reading it cannot wait on the client. (Counts only
    /// grow and ends follow heads, so ends read after heads and at least as many means this request's
    /// end is in.)
    var bodyHasArrived: Bool {
        let started = heads.load(ordering: .acquiring)
        return ends.load(ordering: .acquiring) >= started
    }

    /// Runs `action` once when the client leaves (at once if it has left). Returns a token for `forget`.
    func whenGone(_ action: @escaping @Sendable () -> Void) -> Int? {
        let token = state.withLock { state -> Int? in
            guard !state.gone else { return nil }
            state.next += 1
            state.onLeave[state.next] = action
            return state.next
        }
        if token == nil { action() }
        return token
    }

    func forget(_ token: Int?) {
        guard let token else { return }
        state.withLock { _ = $0.onLeave.removeValue(forKey: token) }
    }

    func leave() {
        let actions = state.withLock { state in
            state.gone = true
            defer {
                state.onLeave.removeAll()
                state.onWritten.removeAll()
            }
            return Array(state.onLeave.values) + state.onWritten
        }
        for action in actions { action() }
    }

    func attach(to eventLoop: any EventLoop) {
        state.withLock { $0.eventLoop = eventLoop }
    }

    func writesBegan() {
        state.withLock { $0.writing = true }
    }

    func writesEnded() {
        let actions = state.withLock { state in
            state.writing = false
            defer { state.onWritten.removeAll() }
            return state.onWritten
        }
        for action in actions { action() }
    }

    /// Returns once everything written to the connection before the call has been sent (taken by
    /// the socket), or the client is gone. A write is handed to the event loop before it reaches the
    /// connection, so the check is made there, after it.
    func written() async {
        guard let eventLoop = state.withLock({ $0.eventLoop }) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            eventLoop.execute {
                let now = self.state.withLock { state -> Bool in
                    guard state.writing, !state.gone else { return true }
                    state.onWritten.append { continuation.resume() }
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }
}

/// The request context of the service: Hummingbird's, plus the connection the request came on.
public struct ServiceRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection (in router tests, a stand-in without a `ConnectionHandler`).
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The client's presence on this connection, or nil when the connection is closed or has no
    /// `ConnectionHandler` (router tests).
    var clientPresence: ClientPresence? {
        guard channel.isActive else { return nil }
        return ClientPresence.of(channel)
    }
}
