import OCI

/// What is generated from the command declarations: `--experimental-dump-help` (the JSON
/// that scripts/gen-man.py turns into apus(8), in ArgumentParser's ToolInfo shape) and
/// `--generate-completion-script bash|zsh|fish`.
enum Generated {
    static func dumpHelp() -> String {
        var commands: [JSONNode] = []
        for name in Commands.names {
            if let decl = Commands.decl(name) { commands.append(command(decl)) }
        }
        let version = argument(OptionDecl(Flags.version, "Print the version."))
        let root: JSONNode = .object([
            ("commandName", .string("apus")), ("abstract", .string(Help.rootAbstract)),
            ("discussion", .string(Flags.globalHelp)), ("shouldDisplay", .bool(true)),
            ("arguments", .array([version, helpFlag])), ("subcommands", .array(commands)),
        ])
        return JSONNode.object([("serializationVersion", .integer(0)), ("command", root)]).compactText + "\n"
    }

    static func command(_ decl: CommandDecl) -> JSONNode {
        var members: [(key: String, value: JSONNode)] = [
            ("commandName", .string(decl.name)), ("abstract", .string(decl.abstract)), ("shouldDisplay", .bool(true)),
        ]
        if !decl.discussion.isEmpty { members.append(("discussion", .string(decl.discussion))) }
        if !decl.aliases.isEmpty { members.append(("aliases", .array(decl.aliases.map { .string($0) }))) }
        let arguments = decl.options.map(argument) + decl.arguments.map(positional) + [helpFlag]
        members.append(("arguments", .array(arguments)))
        return .object(members)
    }

    static func names(_ flag: FlagSpec) -> [JSONNode] {
        var out: [JSONNode] = flag.short.map { [name("short", String($0))] } ?? []
        out += flag.longs.map { name("long", $0) }
        return out
    }

    static func name(_ kind: String, _ text: String) -> JSONNode {
        .object([("kind", .string(kind)), ("name", .string(text))])
    }

    static func argument(_ option: OptionDecl) -> JSONNode {
        var members: [(key: String, value: JSONNode)] = [
            ("kind", .string(option.flag.takesValue ? "option" : "flag")), ("names", .array(names(option.flag))),
            ("preferredName", name("long", option.flag.longs[0])), ("valueName", .string(option.flag.longs[0])),
            ("abstract", .string(option.help)), ("isOptional", .bool(true)), ("isRepeating", .bool(option.repeating)),
            ("shouldDisplay", .bool(true)),
        ]
        if let value = option.defaultValue { members.append(("defaultValue", .string(value))) }
        if !option.choices.isEmpty { members.append(("allValues", .array(option.choices.map { .string($0) }))) }
        return .object(members)
    }

    static func positional(_ argument: ArgumentDecl) -> JSONNode {
        var members: [(key: String, value: JSONNode)] = [
            ("kind", .string("positional")), ("valueName", .string(argument.name)),
            ("abstract", .string(argument.help)),
            ("isOptional", .bool(argument.optional || argument.capturesRest)),
            ("isRepeating", .bool(argument.capturesRest)), ("shouldDisplay", .bool(true)),
        ]
        if let value = argument.defaultValue { members.append(("defaultValue", .string(value))) }
        return .object(members)
    }

    static var helpFlag: JSONNode {
        .object([
            ("kind", .string("flag")), ("names", .array([name("short", "h"), name("long", "help")])),
            ("preferredName", name("long", "help")), ("valueName", .string("help")),
            ("abstract", .string("Show help information.")), ("isOptional", .bool(true)), ("isRepeating", .bool(false)),
            ("shouldDisplay", .bool(true)),
        ])
    }

    /// The script for `shell`, or nil for a shell apus has none for.
    static func completionScript(_ shell: String) -> String? {
        switch shell {
        case "bash": return bash()
        case "zsh": return zsh()
        case "fish": return fish()
        default: return nil
        }
    }

    static var decls: [CommandDecl] { Commands.names.compactMap(Commands.decl) }

    /// Global options that take a value: their value is never the command.
    static var globalValued: String {
        Flags.global.filter(\.takesValue).flatMap(\.spellings).joined(separator: "|")
    }

    static func bash() -> String {
        var cases = ""
        for decl in decls {
            let words = decl.options.flatMap(\.flag.spellings) + ["-h", "--help"]
            var values = ""
            for option in decl.options where !option.choices.isEmpty {
                values += "            \(option.flag.spellings.joined(separator: "|"))) "
                values +=
                    "COMPREPLY=($(compgen -W \"\(option.choices.joined(separator: " "))\" -- \"$cur\")); return ;;\n"
            }
            let valued = decl.options.filter(\.flag.takesValue).flatMap(\.flag.spellings).joined(separator: "|")
            cases += "        \(([decl.name] + decl.aliases).joined(separator: "|")))\n"
            cases += "            case \"$prev\" in\n" + values
            if !valued.isEmpty { cases += "            \(valued)) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n" }
            cases += "            esac\n"
            cases += "            COMPREPLY=($(compgen -W \"\(words.joined(separator: " "))\" -- \"$cur\")) ;;\n"
        }
        return """
            #!/bin/bash
            # bash completion for apus, generated by `apus --generate-completion-script bash`.
            _apus() {
                local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}" command="" i
                for ((i = 1; i < COMP_CWORD; i++)); do
                    case "${COMP_WORDS[i]}" in
                    \(globalValued)) ((i++)) ;;
                    -*) ;;
                    *) command="${COMP_WORDS[i]}"; break ;;
                    esac
                done
                if [[ -z "$command" ]]; then
                    case "$prev" in \(globalValued)) COMPREPLY=($(compgen -f -- "$cur")); return ;; esac
                    COMPREPLY=($(compgen -W "\(Commands.names.joined(separator: " ")) help \(Flags.global.flatMap(\.spellings).joined(separator: " ")) --version -h --help" -- "$cur"))
                    return
                fi
                case "$command" in
            \(cases)    esac
            }
            complete -o default -F _apus apus

            """
    }

    static func zsh() -> String {
        var out = "#compdef apus\n# zsh completion for apus, generated by `apus --generate-completion-script zsh`.\n"
        out += "_apus() {\n    local -a commands\n    commands=(\n"
        for decl in decls { out += "        '\(decl.name):\(quoted(decl.abstract, "'", "'\\''"))'\n" }
        out += "    )\n    if (( CURRENT == 2 )); then\n        _describe 'command' commands\n        return\n    fi\n"
        out += "    case \"${words[2]}\" in\n"
        for decl in decls {
            let words = decl.options.flatMap(\.flag.spellings).joined(separator: " ")
            out += "    \(([decl.name] + decl.aliases).joined(separator: "|"))) compadd -- \(words) ;;\n"
        }
        out += "    esac\n}\n_apus \"$@\"\n"
        return out
    }

    static func fish() -> String {
        var out = "# fish completion for apus, generated by `apus --generate-completion-script fish`.\n"
        for decl in decls {
            let description = quoted(decl.abstract, "'", "\\'")
            out += "complete -c apus -f -n __fish_use_subcommand -a \(decl.name) -d '\(description)'\n"
            for option in decl.options {
                var line = "complete -c apus -n '__fish_seen_subcommand_from \(decl.name)'"
                if let short = option.flag.short { line += " -s \(short)" }
                for long in option.flag.longs { line += " -l \(long)" }
                if option.flag.takesValue { line += " -r" }
                if !option.choices.isEmpty { line += " -xa '\(option.choices.joined(separator: " "))'" }
                out += line + " -d '\(quoted(option.help, "'", "\\'"))'\n"
            }
        }
        return out
    }

    static func quoted(_ text: String, _ quote: String, _ escaped: String) -> String {
        text.replacing(substring: quote, with: escaped)
    }
}
