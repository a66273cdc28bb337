import CustosJSON
import CustosServer
import Foundation
import Logging
import Synchronization

/// How log lines are written to standard error: `text` (swift-log's stream format) or
/// `json` (one object a line, for log shippers).
enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// The level and format every log handler of the process reads at each line, so a
/// reload (SIGHUP) changes them for loggers already handed out.
final class LogSettings: Sendable {
    private let state: Mutex<(level: Logger.Level, format: LogFormat)>

    init(level: Logger.Level = .warning, format: LogFormat = .text) {
        state = Mutex((level, format))
    }

    var level: Logger.Level {
        get { state.withLock { $0.level } }
        set { state.withLock { $0.level = newValue } }
    }

    var format: LogFormat {
        get { state.withLock { $0.format } }
        set { state.withLock { $0.format = newValue } }
    }

    /// Lowers the level to `level` if it is more verbose; never raises it.
    func lower(to level: Logger.Level) {
        state.withLock { $0.level = min($0.level, level) }
    }
}

/// Writes to standard error in the current format. A logger whose level is set
/// explicitly keeps that level; the others follow the shared settings.
struct CustosLogHandler: LogHandler {
    let label: String
    let settings: LogSettings
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    private var levelOverride: Logger.Level?
    private var text: StreamLogHandler

    init(label: String, settings: LogSettings, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.settings = settings
        self.metadataProvider = metadataProvider
        self.text = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)
        self.text.logLevel = .trace
    }

    var logLevel: Logger.Level {
        get { levelOverride ?? settings.level }
        set { levelOverride = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        switch settings.format {
        case .text:
            var handler = text
            handler.metadata = metadata
            handler.log(event: event)
        case .json:
            var merged = metadata
            if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
            if let extra = event.metadata { merged.merge(extra) { _, new in new } }
            let line = Self.jsonLine(time: Date(), level: event.level, label: label, message: "\(event.message)",
                                     metadata: merged, source: event.source)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    /// One JSON object and a newline: every control character, and the characters a
    /// terminal acts on, escaped, so a value cannot break the line or forge another.
    static func jsonLine(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata,
                         source: String) -> String {
        var json = JSONText(capacity: 256, escapingSlashes: false)
        json.key("time", first: true)
        json.string(timestamp(time))
        json.key("level")
        json.string(level.rawValue)
        json.key("label")
        json.string(label)
        json.key("message")
        json.string(message)
        if !metadata.isEmpty {
            json.key("metadata")
            json.raw("{")
            for (index, key) in metadata.keys.sorted().enumerated() {
                if index > 0 { json.raw(",") }
                json.string(key)
                json.raw(":")
                append(metadata[key]!, to: &json)
            }
            json.raw("}")
        }
        json.key("source")
        json.string(source)
        return TerminalText.escapedJSON("{" + String(decoding: json.bytes, as: UTF8.self) + "}") + "\n"
    }

    /// Strings stay strings; nested dictionaries and arrays stay objects and arrays.
    private static func append(_ value: Logger.Metadata.Value, to json: inout JSONText) {
        switch value {
        case .string(let text): json.string(text)
        case .stringConvertible(let convertible): json.string(convertible.description)
        case .array(let values):
            json.raw("[")
            for (index, value) in values.enumerated() {
                if index > 0 { json.raw(",") }
                append(value, to: &json)
            }
            json.raw("]")
        case .dictionary(let values):
            json.raw("{")
            for (index, key) in values.keys.sorted().enumerated() {
                if index > 0 { json.raw(",") }
                json.string(key)
                json.raw(":")
                append(values[key]!, to: &json)
            }
            json.raw("}")
        }
    }

    /// RFC 3339, UTC, microseconds: `2026-12-02T12:00:00.123456Z`.
    static func timestamp(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        let micros = min(Int(((interval - interval.rounded(.down)) * 1_000_000).rounded()), 999_999)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let micro = String(micros)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - micro.count) + micro + "Z"
    }
}

/// The process's logging: standard error, warning level unless `--verbose` or the
/// server's `log.level`, text unless `log.format`/`$CUSTOS_LOG_FORMAT` says `json`.
enum CLILogging {
    static let settings = LogSettings(format: environmentFormat ?? .text)

    private static let once: Void = {
        LoggingSystem.bootstrap { label in CustosLogHandler(label: label, settings: settings) }
    }()

    /// `$CUSTOS_LOG_FORMAT`, when it names a format (the server refuses other values at start).
    static var environmentFormat: LogFormat? {
        ProcessInfo.processInfo.environment["CUSTOS_LOG_FORMAT"].flatMap { LogFormat(rawValue: $0) }
    }

    /// The server's `log.level` and `log.format` (at start and at each reload).
    static func apply(_ configuration: ServerConfiguration) {
        settings.level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        settings.format = LogFormat(rawValue: configuration.logFormat) ?? .text
        _ = once
    }

    static func bootstrap(verbose: Bool) {
        bootstrap(level: verbose ? .info : .warning)
    }

    /// - Parameter onlyRaise: keep a more verbose level already chosen (by `serve`).
    static func bootstrap(level newLevel: Logger.Level, onlyRaise: Bool = false) {
        if onlyRaise { settings.lower(to: newLevel) } else { settings.level = newLevel }
        _ = once
    }
}
