import CustosCluster

/// Keeps every audit event of one replica, for the tests to read.
actor RecordingAuditSink: ClusterAuditSink {
    private(set) var events: [ClusterAuditEvent] = []

    func record(_ event: ClusterAuditEvent) { events.append(event) }

    func events(_ operation: String, outcome: String? = nil) -> [ClusterAuditEvent] {
        events.filter { $0.operation == operation && (outcome == nil || $0.outcome == outcome) }
    }
}
