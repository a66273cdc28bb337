import CustosCrypto
import CustosJSON
import CustosKeystore
import Foundation

/// Writes results as text for people or as one JSON object per line for programs.
struct Output {
    var json: Bool

    func emit(_ object: Any, text: @autoclosure () -> String) {
        if json {
            Output.line(Output.encode(object))
        } else {
            Output.line(text())
        }
    }

    static func encode(_ object: Any) -> String {
        guard JSONSerialization.isValidJSONObject(object),
              let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            // A value JSON cannot hold is a bug here; debug builds (the tests) stop on it.
            assertionFailure("not a JSON object: \(object)")
            return "{}"
        }
        return TerminalText.escapedJSON(String(decoding: data, as: UTF8.self))
    }

    /// An API body as a JSON object for `emit`/`encode`, with the API's own field names.
    static func object(_ value: some Encodable) -> Any {
        guard let data = try? encoder.encode(value), let object = try? JSONSerialization.jsonObject(with: data) else { return [:] as [String: Any] }
        return object
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    /// Writes one line (or several, joined by the caller with newlines and tabs).
    /// Values inside it are escaped with `field` by the caller; any other control or
    /// bidi character is escaped here, so nothing printed can steer the terminal.
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((TerminalText.escaped(text, keeping: ["\n", "\t"], escapingBackslash: false) + "\n").utf8))
    }

    /// A value from the keystore or a server inside a line of text: its newlines, tabs,
    /// escape sequences and bidi controls are shown as escapes, never acted on.
    static func field(_ value: String) -> String {
        TerminalText.escaped(value)
    }

    static func error(_ error: any Error) {
        FileHandle.standardError.write(Data(("error: " + TerminalText.escaped("\(error)") + "\n").utf8))
    }

    static func warning(_ text: String) {
        FileHandle.standardError.write(Data(("warning: \(text)\n").utf8))
    }

    static func timestamp(_ date: Date) -> String {
        ISO8601DateFormatter().string(from: date)
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct ProgressBar: Sendable {
    let total: Int
    let enabled: Bool

    init(total: Int) {
        self.total = total
        self.enabled = isatty(STDERR_FILENO) == 1 && total > 1
    }

    func update(_ done: Int) {
        guard enabled else { return }
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
        if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// Reads message bytes from a file or hex argument, exactly one of which is given.
enum InputBytes {
    static func read(file: String?, hex: String?, what: String) throws -> [UInt8] {
        switch (file, hex) {
        case (let file?, nil):
            return try NamedFile.read(file, what: "\(what) file")
        case (nil, let hex?):
            guard let bytes = Hex.decode(hex) else { throw CLIError("\(what) is not valid hex") }
            return bytes
        case (nil, nil):
            throw CLIError("give the \(what) with a file or as hex")
        default:
            throw CLIError("give the \(what) either as a file or as hex, not both")
        }
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
