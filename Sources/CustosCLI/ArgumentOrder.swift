import ArgumentParser
import CustosKeystore
import Foundation

/// Lets the options every command takes (`GlobalOptions`) come before the subcommand as well
/// as after it: `custos --json --data-dir D key list --tenant t` is `custos key list --json
/// --data-dir D --tenant t`. ArgumentParser only accepts a command's options after its name,
/// so before parsing, global options written before the deepest subcommand are moved to just
/// after it, in their order. Which options are global, and which take a value, is read from
/// ArgumentParser's own description of `GlobalOptions`, not from a second list kept here.
enum ArgumentOrder {
    /// `arguments` (without the program name) with the global options written before the
    /// deepest subcommand moved to just after it. Stops at `--`, at the first option that is not
    /// global (ArgumentParser then reports it; see `diagnosis`) and at the first word that is
    /// not a subcommand name.
    static func arranged(_ arguments: [String], root: any ParsableCommand.Type = CustosCommand.self) -> [String] {
        var command = root
        var subcommandNames: [String] = []
        var moved: [String] = []
        var globals: [String: Bool]?
        var index = arguments.startIndex
        while index < arguments.endIndex, !command.configuration.subcommands.isEmpty {
            let token = arguments[index]
            if token == "--" { break }
            if isOption(token) {
                globals = globals ?? globalOptions()
                guard let takesValue = globals?[optionName(token)] else { break }
                moved.append(token)
                if takesValue && !token.contains("="), index + 1 < arguments.endIndex {
                    index += 1
                    moved.append(arguments[index])  // the value, even if it reads like a subcommand
                }
            } else if let subcommand = subcommand(named: token, of: command) {
                subcommandNames.append(token)
                command = subcommand
            } else {
                break
            }
            index += 1
        }
        return subcommandNames + moved + arguments[index...]
    }

    /// Why ArgumentParser refused a command line, when an option is at fault: one that belongs
    /// to the subcommand but was written before it, or one the subcommand does not have.
    struct Diagnosis: Equatable {
        var message: String
        /// The command the user meant, e.g. `custos key list`, for "see … --help".
        var command: String
    }

    /// The diagnosis of `arguments` as typed (before `arranged`), or nil when no option is at fault.
    static func diagnosis(of arguments: [String], root: any ParsableCommand.Type = CustosCommand.self) -> Diagnosis? {
        let globals = globalOptions()
        let everywhere = builtInOptions()
        var path: [any ParsableCommand.Type] = [root]
        var early: [(option: String, isGlobal: Bool, writtenAfter: any ParsableCommand.Type)] = []
        var index = arguments.startIndex
        // The command the user meant: subcommand names in order, skipping whatever else
        // (misplaced options and their values) comes before the deepest one.
        while index < arguments.endIndex, let command = path.last, !command.configuration.subcommands.isEmpty {
            let token = arguments[index]
            if token == "--" { break }
            if isOption(token) {
                let option = optionName(token)
                if let takesValue = globals[option] {
                    early.append((option, true, command))
                    if takesValue && !token.contains("=") { index += 1 }
                } else if everywhere[option] == nil {
                    early.append((option, false, command))
                }
            } else if let subcommand = subcommand(named: token, of: command) {
                path.append(subcommand)
            }
            index += 1
        }
        let deepest = path[path.count - 1]
        let isLeaf = deepest.configuration.subcommands.isEmpty
        let name = path.map { $0._commandName }.joined(separator: " ")
        let known = options(of: deepest)
        // Global options before a leaf are fine (`arranged` moves them), and so are a group's own
        // options; anything else before the deepest subcommand, or a missing subcommand, is not.
        let misplaced = early.first { option, isGlobal, writtenAfter in
            isGlobal ? !isLeaf : described(writtenAfter).arguments[option] == nil
        }
        if let (option, isGlobal, _) = misplaced {
            guard isGlobal || known.all[option] != nil || known.below.contains(option) else {
                return Diagnosis(message: unknown(option, for: name, known: known.all), command: name)
            }
            let placement = name + (isLeaf ? "" : " <subcommand>")
            return Diagnosis(message: "'\(option)' belongs after the subcommand: \(placement) \(option) …", command: name)
        }
        guard isLeaf else { return nil }
        while index < arguments.endIndex {
            let token = arguments[index]
            if token == "--" { break }
            if isOption(token) {
                guard let takesValue = known.all[optionName(token)] else {
                    return Diagnosis(message: unknown(optionName(token), for: name, known: known.all), command: name)
                }
                if takesValue && !token.contains("=") { index += 1 }
            }
            index += 1
        }
        return nil
    }

    private static func unknown(_ option: String, for command: String, known: [String: Bool]) -> String {
        let closest = known.keys.filter { $0.hasPrefix("--") }
            .map { (name: $0, distance: editDistance($0, option)) }
            .min { ($0.distance, $0.name) < ($1.distance, $1.name) }
        let hint = closest.map { $0.distance <= 2 ? " (did you mean '\($0.name)'?)" : "" } ?? ""
        return "unknown option '\(option)' for '\(command)'\(hint)"
    }

    // MARK: What ArgumentParser says about the commands

    private static func isOption(_ token: String) -> Bool { token.count > 1 && token.hasPrefix("-") }

    /// `--name` of `--name=value`.
    private static func optionName(_ token: String) -> String {
        token.firstIndex(of: "=").map { String(token[..<$0]) } ?? token
    }

    private static func subcommand(named name: String, of command: any ParsableCommand.Type) -> (any ParsableCommand.Type)? {
        command.configuration.subcommands.first { $0._commandName == name || $0.configuration.aliases.contains(name) }
    }

    /// The options of `GlobalOptions`, each with whether it takes a value.
    static func globalOptions() -> [String: Bool] {
        let builtIn = builtInOptions()
        return described(GlobalOptions.self).arguments.filter { builtIn[$0.key] == nil }
    }

    /// What ArgumentParser adds to every command (`--help`, `-h`).
    private static func builtInOptions() -> [String: Bool] {
        described(NoOptions.self).arguments
    }

    private struct NoOptions: ParsableArguments {}

    /// A command's own options, and those of the commands below it.
    private static func options(of command: any ParsableCommand.Type) -> (all: [String: Bool], below: Set<String>) {
        let description = described(command)
        var below: Set<String> = []
        var pending = description.subcommands
        while let next = pending.popLast() {
            below.formUnion(next.arguments.keys)
            pending += next.subcommands
        }
        return (description.arguments, below)
    }

    private struct Description {
        var arguments: [String: Bool] = [:]
        var subcommands: [Description] = []
    }

    /// From ArgumentParser's JSON description of a type (`_dumpHelp()`, what
    /// `--experimental-dump-help` prints). Should that format change, decoding yields nothing
    /// and ArgumentOrderTests fail, rather than options being guessed.
    private static func described(_ type: any ParsableArguments.Type) -> Description {
        struct Dump: Decodable {
            struct Command: Decodable {
                struct Argument: Decodable {
                    struct Name: Decodable { var kind: String; var name: String }
                    var kind: String
                    var names: [Name]?
                }
                var arguments: [Argument]?
                var subcommands: [Command]?
            }
            var command: Command
        }
        func convert(_ command: Dump.Command) -> Description {
            var description = Description(subcommands: (command.subcommands ?? []).map(convert))
            for argument in command.arguments ?? [] where argument.kind != "positional" {
                for name in argument.names ?? [] {
                    let spelled = name.kind == "long" ? "--" + name.name : "-" + name.name
                    description.arguments[spelled] = argument.kind == "option"
                }
            }
            return description
        }
        guard let dump = try? JSONDecoder().decode(Dump.self, from: Data(type._dumpHelp().utf8)) else { return Description() }
        return convert(dump.command)
    }

    private static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in a.indices {
            var diagonal = row[0]
            row[0] = i + 1
            for j in b.indices {
                let above = row[j + 1]
                row[j + 1] = min(above + 1, row[j] + 1, diagonal + (a[i] == b[j] ? 0 : 1))
                diagonal = above
            }
        }
        return row[b.count]
    }
}

extension CustosCommand {
    /// The entry point: ArgumentParser's, after `ArgumentOrder` has put global options written
    /// before the subcommand after it, and with clearer messages for misplaced or unknown options.
    public static func main() async {
        // Before anything else runs or is spawned: no secret stays in the environment.
        SecretEnvironment.capture()
        let typed = Array(CommandLine.arguments.dropFirst())
        var command: any ParsableCommand
        do {
            command = try await asyncParseAsRoot(ArgumentOrder.arranged(typed))
        } catch {
            // Help, completion scripts and the like arrive as errors too; they exit 0.
            if exitCode(for: error) != .success, let diagnosis = ArgumentOrder.diagnosis(of: typed) {
                let text = "Error: \(diagnosis.message)\n  See '\(diagnosis.command) --help' for more information.\n"
                FileHandle.standardError.write(Data(text.utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
            exit(withError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
