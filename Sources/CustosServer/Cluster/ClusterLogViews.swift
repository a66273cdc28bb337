import CustosAPI
import CustosCluster
import CustosCrypto
import Foundation

/// Key-log entries in the API's terms, for a replica's routes and a client node's alike: the
/// entry's kind, what it is about (a replica or client key name, a command and its action) and a
/// subject line for people.
enum ClusterLogViews {
    static func entry(_ stored: StoredLogEntry) throws -> ClusterLogEntry {
        let decoded = try LogEntry(bytes: stored.bytes)
        var view = ClusterLogEntry(index: stored.index, sequence: stored.sequence, name: nil,
                                   status: decoded.status == .accepted ? "accepted" : "void", reason: decoded.reason,
                                   head: Hex.encode(stored.head), entry: Base64Text.encode(stored.bytes), kind: decoded.kind.name)
        describe(&view, kind: decoded.kind, item: decoded.item)
        return view
    }

    /// Fills the name, command and subject from the item; an item that does not decode (a void
    /// `malformed-…` entry) is named by its kind alone.
    static func describe(_ view: inout ClusterLogEntry, kind: ScheduledKind, item: [UInt8]) {
        switch kind {
        case .replicaRecord:
            guard let record = try? KeyExchangeRecord(bytes: item) else { view.subject = "malformed replica record"; return }
            view.name = ReplicaEndpoints.name(record.name)
            view.command = record.command == 0 ? nil : record.command
            view.subject = "(\(record.name.replica), g\(record.name.generation), e\(record.name.epoch))"
                + (record.command == 0 ? "" : " for command \(record.command)")
        case .clientRecord:
            guard let record = try? ClientKeyRecord(bytes: item) else { view.subject = "malformed client record"; return }
            view.client = ClusterClientKeyName(client: record.name.client.rawValue, epoch: record.name.epoch)
            view.command = record.command == 0 ? nil : record.command
            view.subject = record.name.description + (record.command == 0 ? "" : " for command \(record.command)")
        case .command:
            guard let command = try? OperatorCommand(bytes: item) else { view.subject = "malformed command"; return }
            view.command = command.number
            view.action = command.action.name
            view.subject = "command \(command.number) \(command.action.name)"
        }
    }
}
