/// What a client node's server reads of its engine.
extension ClientNode {
    /// This client's verified copy of the key log: served on its own API, and where its peer
    /// client finds the replicas' addresses and TLS pins.
    public func keyLog() -> KeyLog { log }
}
