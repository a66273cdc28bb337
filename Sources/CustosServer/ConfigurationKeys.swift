import CustosJSON
import Foundation

/// The keys `custos serve` knows, with the JSON type each takes. The file is checked
/// against this table before anything is read from it: a misspelt key (`"prot": 9000`)
/// would otherwise leave its default in force without a word.
extension ServerConfiguration {
    public enum ValueKind: String, Sendable {
        case integer = "an integer"
        case boolean = "true or false"
        case string = "a string"
        case stringOrList = "a string or a list of strings"
    }

    public static let keys: [String: ValueKind] = [
        "server.host": .string, "server.port": .integer, "server.max_body_bytes": .integer,
        "server.request_timeout_seconds": .integer, "server.batch_max_items": .integer,
        "server.header_timeout_seconds": .integer, "server.idle_timeout_seconds": .integer,
        "server.max_connections": .integer, "server.max_connections_per_address": .integer,
        "server.auth_failures_per_minute": .integer,
        "audit.checkpoint_interval_seconds": .integer, "audit.sink": .string, "audit.sink_allow_http_loopback": .boolean,
        "audit.denial_interval_seconds": .integer,
        "log.level": .string, "log.format": .string,
        "metrics.enabled": .boolean,
        "keystore.cache_capacity": .integer, "keystore.record_ttl_ms": .integer, "keystore.root_check_interval_seconds": .integer,
        "tls.certificate": .string, "tls.private_key": .string, "tls.key": .string, "tls.client_ca": .string,
        "tls.client_pins": .stringOrList, "tls.client_pins_file": .string, "tls.keystore_trust": .boolean,
        "tls.client_auth": .string, "tls.reload_interval_ms": .integer, "tls.expiry_warning_days": .integer,
        "tls.renew_before_days": .integer,
        "cluster.peer_listen": .string, "cluster.peer_timeout_ms": .integer, "cluster.round_interval_ms": .integer,
        "cluster.max_log_streams": .integer,
    ]

    /// `server.port` → `CUSTOS_SERVER_PORT`.
    public static func environmentName(_ key: String) -> String {
        "CUSTOS_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    static var sections: Set<String> { Set(keys.keys.map { String($0.split(separator: ".")[0]) }) }

    /// Refuses a configuration file with an unknown key (named by its full path, with the
    /// nearest known key when one is close) or a value of the wrong JSON type.
    static func checkKeys(_ contents: Data, file: String) throws {
        let root: ConfigurationValue
        do {
            root = try JSONDecoder().decode(ConfigurationValue.self, from: contents)
        } catch {
            throw Invalid(description: "configuration file \(file) is not valid JSON: \(Self.decodingProblem(error))")
        }
        guard case .object(let top) = root else {
            throw Invalid(description: "configuration file \(file) must hold a JSON object")
        }
        func walk(_ object: [String: ConfigurationValue], prefix: String) throws {
            for name in object.keys.sorted() {
                let path = prefix.isEmpty ? name : prefix + "." + name
                let value = object[name]!
                if let kind = keys[path] {
                    guard value.matches(kind) else {
                        throw Invalid(description: "\(quoted(path)) in \(file) must be \(kind.rawValue), got \(value.typeName)")
                    }
                } else if keys.keys.contains(where: { $0.hasPrefix(path + ".") }) {
                    guard case .object(let inner) = value else {
                        throw Invalid(description: "\(quoted(path)) in \(file) must be an object of settings, got \(value.typeName)")
                    }
                    try walk(inner, prefix: path)
                } else {
                    let hint = suggestion(for: path).map { " (did you mean \(quoted($0))?)" } ?? ""
                    throw Invalid(description: "unknown configuration key \(quoted(path)) in \(file)\(hint)")
                }
            }
        }
        try walk(top, prefix: "")
    }

    /// `CUSTOS_*` variables that look like configuration keys (a section's prefix) but
    /// name none: warned about, not refused, since the environment is shared with other tools.
    public static func unknownEnvironmentVariables(_ environment: [String: String]) -> [String] {
        let known = Set(keys.keys.map(environmentName))
        let prefixes = sections.map { "CUSTOS_" + $0.uppercased() + "_" }
        return environment.keys.filter { name in
            prefixes.contains(where: { name.hasPrefix($0) }) && !known.contains(name)
        }.sorted().map { name in
            let near = known.min { distance(name, $0) < distance(name, $1) }
            let hint = near.flatMap { distance(name, $0) <= 3 ? " (did you mean \($0)?)" : nil } ?? ""
            return "unknown configuration variable \(TerminalText.escaped(name)) is ignored\(hint)"
        }
    }

    static func quoted(_ path: String) -> String { "\"" + TerminalText.escaped(String(path.prefix(120))) + "\"" }

    /// The known key nearest to `path`: by the whole path, or by its last part alone
    /// (a key put in the wrong section, or at the top level).
    static func suggestion(for path: String) -> String? {
        let last = String(path.split(separator: ".").last ?? "")
        var best: (key: String, distance: Int)?
        for key in keys.keys.sorted() {
            let keyLast = String(key.split(separator: ".").last ?? "")
            let score = min(distance(path, key), distance(last, keyLast) + (path.contains(".") ? 1 : 0))
            if score < (best?.distance ?? Int.max) { best = (key, score) }
        }
        guard let best, best.distance <= max(2, last.count / 4) else { return nil }
        return best.key
    }

    /// Levenshtein distance over Unicode scalars.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    static func decodingProblem(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            return (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
        }
        return "\(error)"
    }
}

/// A JSON value as parsed, for type checks with the type's name in the error.
enum ConfigurationValue: Decodable {
    case null, boolean(Bool), integer(Int64), number(Double), string(String), array([ConfigurationValue]), object([String: ConfigurationValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .boolean(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ConfigurationValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ConfigurationValue].self))
        }
    }

    func matches(_ kind: ServerConfiguration.ValueKind) -> Bool {
        switch (kind, self) {
        case (.integer, .integer), (.boolean, .boolean), (.string, .string), (.stringOrList, .string): true
        case (.stringOrList, .array(let items)): items.allSatisfy { if case .string = $0 { true } else { false } }
        default: false
        }
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .boolean: "a boolean"
        case .integer: "an integer"
        case .number: "a fractional number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }
}
