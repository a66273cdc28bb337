/// Characters a terminal acts on instead of showing, and text made safe to print.
///
/// Unsafe are the C0 and C1 controls and DEL (newlines, escape sequences, NUL), the
/// bidirectional controls (which reorder what is shown) and the line and paragraph
/// separators. Names refuse them at input; everything printed for a person goes
/// through `escaped`, so a value written behind Custos's back still cannot forge a
/// line or hide text.
public enum TerminalText {
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: true
        case 0x061C, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    public static func containsUnsafe(_ text: String) -> Bool {
        text.unicodeScalars.contains(where: isUnsafe)
    }

    /// `text` with every unsafe character written as an escape: `\n`, `\t`, `\r`,
    /// `\xHH` (other controls) or `\u{HHHH}`, and the backslash as `\\` so that an
    /// escape cannot be faked. A whole line of output whose values are already escaped
    /// passes `keeping` (its own line breaks and tabs) and `escapingBackslash: false`.
    public static func escaped(_ text: String, keeping: Set<Unicode.Scalar> = [], escapingBackslash: Bool = true) -> String {
        func plain(_ scalar: Unicode.Scalar) -> Bool {
            keeping.contains(scalar) || ((scalar != "\\" || !escapingBackslash) && !isUnsafe(scalar))
        }
        guard !text.unicodeScalars.allSatisfy(plain) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if plain(scalar) {
                out.append(scalar)
                continue
            }
            let escape: String = switch scalar {
            case "\n": "\\n"
            case "\t": "\\t"
            case "\r": "\\r"
            case "\\": "\\\\"
            default: scalar.value <= 0xFF ? "\\x" + hex(scalar.value, width: 2, upper: false) : "\\u{" + hex(scalar.value, width: 4, upper: true) + "}"
            }
            out.append(contentsOf: escape.unicodeScalars)
        }
        return String(out)
    }

    /// JSON text (as `JSONSerialization` writes it) with the unsafe characters it leaves
    /// raw (DEL, C1 controls, bidi controls, separators) written as `\uHHHH`: the same
    /// JSON value, safe on a terminal. Outside strings JSON has only ASCII, so every
    /// such character is inside a string.
    public static func escapedJSON(_ json: String) -> String {
        guard json.unicodeScalars.contains(where: isUnsafe) else { return json }
        var out = String.UnicodeScalarView()
        for scalar in json.unicodeScalars {
            if isUnsafe(scalar) {
                out.append(contentsOf: ("\\u" + hex(scalar.value, width: 4, upper: false)).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    private static func hex(_ value: UInt32, width: Int, upper: Bool) -> String {
        let digits = String(value, radix: 16, uppercase: upper)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
