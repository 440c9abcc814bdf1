import ArgumentParser
import Foundation
import Logging

/// The settings of a long-running command (`returns-server serve`, `kiosk agent`) gathered from its flags,
/// environment variables and a config file, in that order of precedence, then the defaults.
///
/// One key names a setting everywhere: the flag `--max-connections`, the config-file line `max-connections = 100`
/// and the environment variable `RETURNS_SERVER_MAX_CONNECTIONS` (the prefix, then the key in capitals with `_`
/// for `-`). The config file is plain `key = value` lines; `#` starts a comment; a value may be quoted with `"`.
/// An unknown key in the file is an error naming the key and line, so a typo never silently falls back to a
/// default. Environment variables with the prefix that name no setting are ignored: the environment is shared.
public struct Settings: Sendable {
    /// Where a setting's value came from, for `--print-config` and for errors.
    public enum Source: Sendable, Hashable, CustomStringConvertible {
        case flag
        case environment(String)
        case file(path: String, line: Int)
        case defaultValue

        public var description: String {
            switch self {
            case .flag: return "flag"
            case .environment(let name): return "environment \(name)"
            case .file(let path, let line): return "\(path):\(line)"
            case .defaultValue: return "default"
            }
        }
    }

    /// A setting the command knows.
    public struct Key: Sendable {
        public var name: String
        public var defaultValue: String?
        public var help: String

        public init(_ name: String, default defaultValue: String? = nil, help: String) {
            self.name = name
            self.defaultValue = defaultValue
            self.help = help
        }
    }

    /// One effective setting.
    public struct Entry: Sendable, Hashable {
        public var key: String
        public var value: String?
        public var source: Source

        /// Creates an entry.
        public init(key: String, value: String?, source: Source) {
            self.key = key
            self.value = value
            self.source = source
        }
    }

    /// The effective settings, in the order of the keys.
    public let entries: [Entry]
    /// The config file read, if any.
    public let configFile: String?

    /// Resolves `keys`.
    ///
    /// - Parameters:
    ///   - flags: the values given as flags, by key (`nil`: not given).
    ///   - configFile: the config file to read (`--config`), else the one the environment variable
    ///     `<prefix>CONFIG` names, else none.
    ///   - environmentPrefix: such as `RETURNS_SERVER_`.
    /// - Throws: ``CLIError`` naming the file and line of a line that does not parse or names an unknown key, or
    ///   the file that cannot be read.
    public init(
        keys: [Key],
        flags: [String: String?],
        configFile: String?,
        environmentPrefix: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        let configPath = configFile ?? environment[environmentPrefix + "CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
        let fileValues = try configPath.map { try Self.readFile($0, keys: Set(keys.map(\.name))) } ?? [:]
        self.configFile = configPath
        entries = keys.map { key in
            if let given = flags[key.name] ?? nil { return Entry(key: key.name, value: given, source: .flag) }
            let variable = Self.environmentName(key.name, prefix: environmentPrefix)
            if let value = environment[variable], !value.isEmpty {
                return Entry(key: key.name, value: value, source: .environment(variable))
            }
            if let (value, line) = fileValues[key.name] {
                return Entry(key: key.name, value: value, source: .file(path: configPath!, line: line))
            }
            return Entry(key: key.name, value: key.defaultValue, source: .defaultValue)
        }
    }

    /// `max-connections` with prefix `RETURNS_SERVER_`: `RETURNS_SERVER_MAX_CONNECTIONS`.
    public static func environmentName(_ key: String, prefix: String) -> String {
        prefix + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// Parses a config file into values by key, with their line numbers.
    static func readFile(_ path: String, keys: Set<String>) throws -> [String: (String, Int)] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw CLIError(message: "cannot read the config file \(path): \(error.localizedDescription)")
        }
        var values: [String: (String, Int)] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let trimmed = rawLine.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw CLIError(message: "\(path):\(number): expected 'key = value', found '\(trimmed)'")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            guard keys.contains(key) else {
                throw CLIError(
                    message: "\(path):\(number): unknown setting '\(key)': expected one of "
                        + keys.sorted().joined(separator: ", ")
                )
            }
            let rest = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            let value: String
            if rest.hasPrefix("\"") {
                // A quoted value may hold '#'; after its closing quote only a comment may follow.
                let body = rest.dropFirst()
                guard let close = body.firstIndex(of: "\"") else {
                    throw CLIError(message: "\(path):\(number): the value of '\(key)' opens a quote it does not close")
                }
                let after = body[body.index(after: close)...].trimmingCharacters(in: .whitespaces)
                guard after.isEmpty || after.hasPrefix("#") else {
                    throw CLIError(
                        message: "\(path):\(number): unexpected '\(after)' after the quoted value of '\(key)'"
                    )
                }
                value = String(body[..<close])
            } else {
                let uncommented = rest.firstIndex(of: "#").map { rest[..<$0] } ?? Substring(rest)
                value = uncommented.trimmingCharacters(in: .whitespaces)
            }
            guard values[key] == nil else {
                throw CLIError(message: "\(path):\(number): '\(key)' is set twice (first on line \(values[key]!.1))")
            }
            values[key] = (value, number)
        }
        return values
    }

    /// The effective entry for `key`.
    public func entry(_ key: String) -> Entry {
        guard let entry = entries.first(where: { $0.key == key }) else {
            preconditionFailure("no setting '\(key)'")
        }
        return entry
    }

    /// The value of `key`, if any.
    public func string(_ key: String) -> String? { entry(key).value }

    /// An error for a bad value: names the setting, the value and its source.
    public func invalid(_ entry: Entry, expected: String) -> CLIError {
        let origin: String
        switch entry.source {
        case .flag: origin = "--\(entry.key)"
        case .environment(let variable): origin = "\(variable) (environment)"
        case .file(let path, let line): origin = "\(entry.key) at \(path):\(line)"
        case .defaultValue: origin = "\(entry.key) (default)"
        }
        return CLIError(message: "invalid \(origin) '\(entry.value ?? "")': expected \(expected)")
    }

    /// The effective configuration as a config file that reproduces it, each line saying where its value came
    /// from: what `--print-config` prints.
    public var printed: String {
        var lines = ["# effective configuration" + (configFile.map { " (config file \($0))" } ?? "")]
        for entry in entries {
            let value = entry.value.map { $0.contains("#") || $0.hasPrefix(" ") ? "\"\($0)\"" : $0 } ?? ""
            let line = entry.value == nil ? "# \(entry.key) =" : "\(entry.key) = \(value)"
            lines.append(
                line.padding(toLength: max(line.count, 40), withPad: " ", startingAt: 0) + "  # \(entry.source)"
            )
        }
        return lines.joined(separator: "\n")
    }
}

/// The options every long-running command takes besides its own settings: where settings come from, showing
/// them, and the log level (itself a setting: `log-level`).
public struct SettingsOptions: ParsableArguments {
    @Option(help: "Read settings from this file (default: the file the command's _CONFIG variable names, else none).")
    public var config: String?
    @Flag(help: "Print the effective configuration, with where each value came from, and exit.")
    public var printConfig = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error or critical (default: info).")
    public var logLevel: String?

    public init() {}
}

/// One setting of a long-running command, typed: its key (the flag without `--`, the config file's key, the
/// environment variable's suffix), its default and help, and how its text becomes a value. A command declares each
/// setting once, as a `Setting`, and reads it with ``Settings/value(_:)``: the key is spelled nowhere else, and a bad
/// value is refused naming the setting, the value and where it came from.
public struct Setting<Value: Sendable>: Sendable {
    /// The key, default and help, for ``Settings``.
    public let key: Settings.Key
    /// What a valid value looks like, for the error.
    public let expected: String
    private let parse: @Sendable (String) -> Value?

    /// Creates a setting whose text `parse` turns into a value (`nil`: invalid, as `expected` says).
    public init(
        _ name: String,
        default defaultText: String? = nil,
        help: String,
        expected: String,
        parse: @escaping @Sendable (String) -> Value?
    ) {
        key = Settings.Key(name, default: defaultText, help: help)
        self.expected = expected
        self.parse = parse
    }

    /// The setting's name.
    public var name: String { key.name }

    /// The value of `text`, if valid.
    public func value(of text: String) -> Value? { parse(text) }
}

extension Setting where Value == String {
    /// A text setting: any value goes.
    public static func text(_ name: String, default defaultText: String? = nil, help: String) -> Setting {
        Setting(name, default: defaultText, help: help, expected: "text") { $0 }
    }
}

extension Setting where Value == Int {
    /// A whole number from `range`.
    public static func integer(
        _ name: String,
        default defaultValue: Int? = nil,
        in range: ClosedRange<Int>,
        help: String
    ) -> Setting {
        Setting(
            name,
            default: defaultValue.map(String.init),
            help: help,
            expected: "a whole number from \(range.lowerBound) to \(range.upperBound)"
        ) { text in Int(text).flatMap { range.contains($0) ? $0 : nil } }
    }
}

extension Setting where Value == Duration {
    /// A number of seconds from `range`, fractions allowed.
    public static func seconds(
        _ name: String,
        default defaultValue: String? = nil,
        in range: ClosedRange<Double>,
        help: String
    ) -> Setting {
        Setting(
            name,
            default: defaultValue,
            help: help,
            expected: "seconds from \(range.lowerBound) to \(range.upperBound)"
        ) { text in
            guard let value = Double(text), value.isFinite, range.contains(value) else { return nil }
            return .milliseconds(Int64((value * 1000).rounded()))
        }
    }
}

extension Setting where Value == Bool {
    /// `true` or `false`.
    public static func boolean(_ name: String, default defaultValue: Bool, help: String) -> Setting {
        Setting(name, default: String(defaultValue), help: help, expected: "one of true, false") { text in
            switch text {
            case "true": true
            case "false": false
            default: nil
            }
        }
    }
}

extension Setting where Value == Logger.Level {
    /// The `log-level` setting every long-running command has (also the `--log-level` flag of ``SettingsOptions``).
    public static let logLevel = Setting(
        "log-level",
        default: "info",
        help: "log level",
        expected: "one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
    ) { Logger.Level(rawValue: $0) }
}

extension Settings {
    /// The value of `setting`: from its flag, the environment, the config file or its default; `nil` when none
    /// gives one.
    ///
    /// - Throws: ``CLIError`` naming the setting, its value and where it came from, when the value is not valid.
    public func value<Value>(_ setting: Setting<Value>) throws -> Value? {
        let entry = entry(setting.name)
        guard let text = entry.value else { return nil }
        guard let value = setting.value(of: text) else { throw invalid(entry, expected: setting.expected) }
        return value
    }

    /// The value of a setting that has a default: never `nil`.
    public func value<Value>(required setting: Setting<Value>) throws -> Value {
        guard let value = try value(setting) else {
            throw CLIError(message: "\(setting.name) is not set: expected \(setting.expected)")
        }
        return value
    }
}
