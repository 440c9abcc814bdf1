import ArgumentParser
import CommandLineSupport
import Foundation
import HQAccess
import NIOPosix
import ReturnsServer

#if canImport(Glibc)
import Glibc
#endif

/// `returns-server users`: the people who use HQ's console, each with a role (issue 21).
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "HQ's console users and their roles: add, list, remove, change a password.",
        discussion: """
            Roles, each allowed what the one before it is and more: analyst (reads), returns-manager (also settles \
            conflicts, dispositions and reviews), recall-manager (also runs recall campaigns), admin (also enrolls \
            and revokes kiosks and manages users). Passwords are read from standard input, or asked for twice when \
            it is a terminal; at least 12 characters, at most 72 bytes; stored only as bcrypt hashes (cost \
            $RETURNS_SERVER_PASSWORD_COST, 10 to 16, default 12). Every change is audited ('users audit').
            """,
        subcommands: [UsersAdd.self, UsersList.self, UsersRemove.self, UsersPasswd.self, UsersAudit.self],
        defaultSubcommand: UsersList.self
    )

    /// Who a command-line change is recorded as: the operator named, else the system user running it.
    static func actor(_ database: ServerDatabaseOptions) throws -> String {
        if let operatorID = try database.operatorID { return "\(operatorID) (command line)" }
        return "\(ProcessInfo.processInfo.environment["USER"] ?? "unknown") (command line)"
    }

    /// bcrypt's cost from `RETURNS_SERVER_PASSWORD_COST`: 10 to 16, default 12.
    static func hasher() throws -> PasswordHasher {
        guard let text = ProcessInfo.processInfo.environment["RETURNS_SERVER_PASSWORD_COST"], !text.isEmpty else {
            return PasswordHasher()
        }
        guard let cost = UInt8(text), (10...16).contains(cost) else {
            throw CLIError(message: "invalid RETURNS_SERVER_PASSWORD_COST '\(text)': expected 10 to 16")
        }
        return PasswordHasher(cost: cost)
    }

    /// A new password: asked twice on the terminal without echo, or the first line of standard input; checked and
    /// hashed (on a thread of its own: bcrypt is slow on purpose).
    static func newPasswordHash(for name: HQUserName) async throws -> String {
        let password: String
        if isatty(STDIN_FILENO) == 1 {
            let first = try Self.prompt("Password for \(name): ")
            let second = try Self.prompt("Again: ")
            guard first == second else { throw CLIError(message: "the passwords differ; nothing changed") }
            password = first
        } else {
            guard let line = readLine(strippingNewline: true) else {
                throw CLIError(message: "no password on standard input; nothing changed")
            }
            password = line
        }
        let hasher = try hasher()
        do {
            // `hash` checks the password's rules first, so a refusal costs no bcrypt.
            return try await NIOThreadPool.singleton.runIfActive { try hasher.hash(password) }
        } catch let error as HQAccessError {
            throw CLIError(message: error.message + "; nothing changed")
        }
    }

    /// Asks on the terminal with echo off.
    private static func prompt(_ question: String) throws -> String {
        FileHandle.standardError.write(Data(question.utf8))
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &silent)
        defer {
            tcsetattr(STDIN_FILENO, TCSANOW, &saved)
            FileHandle.standardError.write(Data("\n".utf8))
        }
        guard let line = readLine(strippingNewline: true) else {
            throw CLIError(message: "no password typed; nothing changed")
        }
        return line
    }

    /// An ``HQAccessError`` as the command's error.
    static func refusal<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as HQAccessError {
            throw CLIError(message: error.message)
        }
    }
}

struct UsersAdd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a console user with a role; the password comes from standard input or a prompt."
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Argument(help: "The user's name (letters, digits, '.', '_', '-', '@'; kept in lower case).") var name: String
    @Option(help: "analyst|returns-manager|recall-manager|admin") var role: String

    func run() async throws {
        let (name, role) = try await UsersCommand.refusal {
            (try HQUserName(self.name), try HQRole(parsing: self.role))
        }
        let actor = try UsersCommand.actor(database)
        // Checked before the password is asked for: a taken name is said at once.
        try await database.withStorage(create: true) { storage in
            if let refusal = HQUserRules.refusalToAdd(name, existing: try await storage.hqUsers()) {
                throw CLIError(message: refusal.message)
            }
            let hash = try await UsersCommand.newPasswordHash(for: name)
            let now = Date()
            try await UsersCommand.refusal {
                try await storage.addHQUser(
                    HQUser(name: name, role: role, passwordHash: hash, createdAt: now, passwordChangedAt: now),
                    by: actor
                )
            }
        }
        Console.current.print("added \(name) (\(role.rawValue))")
    }
}

struct UsersList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "The console users and their roles.")

    @OptionGroup var database: ServerDatabaseOptions
    @Flag(help: "Print JSON.") var json = false

    struct Document: Encodable {
        var name: String
        var role: String
        var createdAt: Date
        var passwordChangedAt: Date
    }

    func run() async throws {
        let users = try await database.withStorage { try await $0.hqUsers() }
        if json {
            try Console.current.printJSON(
                users.map {
                    Document(
                        name: $0.name.rawValue,
                        role: $0.role.rawValue,
                        createdAt: $0.createdAt,
                        passwordChangedAt: $0.passwordChangedAt
                    )
                }
            )
        } else {
            let rows = users.map {
                [$0.name.rawValue, $0.role.rawValue, Format.time($0.createdAt), Format.time($0.passwordChangedAt)]
            }
            Console.current.print(Format.table(["USER", "ROLE", "ADDED", "PASSWORD SET"], rows))
        }
    }
}

struct UsersRemove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a console user (never the last admin)."
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Argument(help: "The user's name.") var name: String

    func run() async throws {
        let name = try await UsersCommand.refusal { try HQUserName(self.name) }
        let actor = try UsersCommand.actor(database)
        try await database.withStorage { storage in
            try await UsersCommand.refusal { try await storage.removeHQUser(name, by: actor) }
        }
        Console.current.print("removed \(name)")
    }
}

struct UsersPasswd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Set a console user's password; it comes from standard input or a prompt."
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Argument(help: "The user's name.") var name: String

    func run() async throws {
        let name = try await UsersCommand.refusal { try HQUserName(self.name) }
        let actor = try UsersCommand.actor(database)
        try await database.withStorage { storage in
            guard try await storage.hqUsers().contains(where: { $0.name == name }) else {
                throw CLIError(message: HQUserRules.unknown(name).message)
            }
            let hash = try await UsersCommand.newPasswordHash(for: name)
            try await UsersCommand.refusal { try await storage.setHQUserPassword(name, hash: hash, by: actor) }
        }
        Console.current.print("password changed for \(name)")
    }
}

struct UsersAudit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The newest entries of the access audit: users added and removed, passwords changed."
    )

    @OptionGroup var database: ServerDatabaseOptions
    @Option(help: "How many entries (default: 50).") var limit = 50
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...100_000).contains(limit) else { throw ValidationError("invalid --limit \(limit): 1 to 100000") }
    }

    func run() async throws {
        let entries = try await database.withStorage { try await $0.hqAudit(limit: limit) }
        if json {
            try Console.current.printJSON(entries)
        } else {
            let rows = entries.map { [Format.time($0.at), $0.actor, $0.action, $0.subject, $0.detail] }
            Console.current.print(Format.table(["TIME", "BY", "ACTION", "USER", "DETAIL"], rows))
        }
    }
}
