import ArgumentParser
import CBuildInfo
import CustosCluster
import CustosStore

/// What a binary is: its release, the commit it was built from, and the versions of the
/// formats it reads and writes (a store of a newer schema is refused: docs/install.md).
public enum CustosVersion {
    /// The release; CHANGELOG.md names each one and `make dist` names the tarball after it.
    public static let release = "0.16.0"

    /// Written into release binaries by `make dist`; "unknown (development build)" otherwise.
    public static var commit: String { String(cString: custos_build_commit()) }

    public static var schema: Int { SQLiteStore.schemaVersion }

    /// The replica network's signed formats (docs/cluster.md): a peer with another version refuses them.
    public static var clusterConfigurationFormat: UInt64 { ConfigurationBody.formatVersion }
    public static var operatorCommandFormat: UInt64 { OperatorCommand.formatVersion }

    /// The one-line text of `custos --version`.
    public static var summary: String {
        "custos \(release) (commit \(commit); keystore schema \(schema); cluster configuration format \(clusterConfigurationFormat), "
            + "operator command format \(operatorCommandFormat))"
    }

    static var fields: [String: Any] {
        ["version": release, "commit": commit, "schema_version": schema,
         "cluster_configuration_format": Int(clusterConfigurationFormat), "operator_command_format": Int(operatorCommandFormat)]
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Show the release, the commit it was built from and the format versions (as --version does).")

    @Flag(name: .long, help: "Machine-readable JSON output.")
    var json = false

    func run() {
        Output(json: json).emit(CustosVersion.fields, text: CustosVersion.summary)
    }
}
