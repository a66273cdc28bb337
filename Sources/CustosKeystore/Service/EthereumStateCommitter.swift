import CustosStore
import Synchronization

/// Group commit of Ethereum account states: changes submitted while a transaction
/// commits go together in the next one, so concurrent signings (of any accounts) share
/// one durable write. A change is submitted while its account's queue is held, so the
/// changes of one account reach the store in the order they were made.
final class EthereumStateCommitter: Sendable {
    private let store: any Store
    private let queue = Mutex<(pending: [(EthereumAccountStateChange, CommitTicket)], flushing: Bool)>(([], false))

    init(store: any Store) {
        self.store = store
    }

    /// Queues `change`; the ticket says whether it was written once its transaction committed.
    func submit(_ change: EthereumAccountStateChange) -> CommitTicket {
        let ticket = CommitTicket()
        let start = queue.withLock { queue -> Bool in
            queue.pending.append((change, ticket))
            guard !queue.flushing else { return false }
            queue.flushing = true
            return true
        }
        if start { Task { await self.flush() } }
        return ticket
    }

    private func flush() async {
        while true {
            let batch = queue.withLock { queue -> [(EthereumAccountStateChange, CommitTicket)] in
                let batch = queue.pending
                queue.pending.removeAll(keepingCapacity: true)
                if batch.isEmpty { queue.flushing = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                let written = try await store.replaceEthereumAccountStates(batch.map(\.0))
                for ((_, ticket), wasWritten) in zip(batch, written) { ticket.fulfil(.success(wasWritten)) }
            } catch {
                for (_, ticket) in batch { ticket.fulfil(.failure(error)) }
            }
        }
    }
}

/// The outcome of one submitted change, awaited by its submitter.
final class CommitTicket: Sendable {
    private let state = Mutex<(result: Result<Bool, any Error>?, waiter: CheckedContinuation<Bool, any Error>?)>((nil, nil))

    func fulfil(_ result: Result<Bool, any Error>) {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, any Error>? in
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    /// True once written; false if the row had changed (nothing was written).
    func written() async throws -> Bool {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Bool, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
