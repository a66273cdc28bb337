import Foundation

/// A reader of `text/event-stream` (WHATWG HTML, "Server-sent events"): bytes in, whole events
/// out. Comments (`: keep-alive`) are counted, not returned. A line longer than `maxLineBytes`
/// is an error: a server cannot make the reader hold an unbounded line.
public struct ServerSentEvents: Sendable {
    public struct Event: Sendable, Equatable {
        public var id: String?
        public var name: String
        public var data: String
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case lineTooLong(limit: Int)
        public var description: String {
            switch self {
            case .lineTooLong(let limit): "the event stream sent a line over \(limit) bytes"
            }
        }
    }

    public let maxLineBytes: Int
    private var line: [UInt8] = []
    private var id: String?
    private var name = ""
    private var data: [String] = []
    private var hasData = false
    private var lastByteWasCR = false
    /// Comment lines seen (keep-alives).
    public private(set) var comments = 0

    public init(maxLineBytes: Int = 1 << 20) {
        self.maxLineBytes = maxLineBytes
    }

    /// The events completed by `bytes` (a chunk may hold none, part of one, or several).
    public mutating func feed(_ bytes: some Sequence<UInt8>) throws -> [Event] {
        var events: [Event] = []
        for byte in bytes {
            if byte == 0x0A, lastByteWasCR {  // the LF of a CRLF already ended the line
                lastByteWasCR = false
                continue
            }
            lastByteWasCR = byte == 0x0D
            if byte == 0x0A || byte == 0x0D {
                if let event = endLine() { events.append(event) }
                continue
            }
            guard line.count < maxLineBytes else { throw Failure.lineTooLong(limit: maxLineBytes) }
            line.append(byte)
        }
        return events
    }

    private mutating func endLine() -> Event? {
        defer { line.removeAll(keepingCapacity: true) }
        guard !line.isEmpty else {
            // A blank line dispatches the event gathered so far.
            defer { data = []; hasData = false; name = "" }
            guard hasData else { return nil }
            return Event(id: id, name: name.isEmpty ? "message" : name, data: data.joined(separator: "\n"))
        }
        if line[0] == UInt8(ascii: ":") {
            comments += 1
            return nil
        }
        let text = String(decoding: line, as: UTF8.self)
        let field: Substring, value: Substring
        if let colon = text.firstIndex(of: ":") {
            field = text[..<colon]
            let rest = text[text.index(after: colon)...]
            value = rest.hasPrefix(" ") ? rest.dropFirst() : rest
        } else {
            field = text[...]
            value = ""
        }
        switch field {
        case "data":
            data.append(String(value))
            hasData = true
        case "event": name = String(value)
        case "id" where !value.contains("\0"): id = String(value)
        default: break  // retry and unknown fields are ignored
        }
        return nil
    }
}
