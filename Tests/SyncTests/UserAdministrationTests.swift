import Foundation
import HQAccess
import ReturnSyncTestSupport
import ReturnsServer
import Testing

/// HQ's console users on every backend (issue 21): the same rules, the same audit, and a second handle (a second
/// `serve` process) sees every change at once.
@Suite struct UserAdministrationTests {
    static func user(_ name: String, _ role: HQRole, hash: String = "$2b$04$hash") throws -> HQUser {
        let at = Date(millisecondsSince1970: 1_796_000_000_000)
        return HQUser(name: try HQUserName(name), role: role, passwordHash: hash, createdAt: at, passwordChangedAt: at)
    }

    @Test(arguments: StorageBackend.all)
    func usersAreAddedChangedAndRemovedByTheRulesAndAudited(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let storage = try #require(instance.storage as? any UserAdministration)
            let other = try #require(try await instance.secondHandle() as? any UserAdministration)
            #expect(try await storage.hqUsers().isEmpty)

            try await storage.addHQUser(try Self.user("Dana", .admin), by: "root (command line)")
            try await storage.addHQUser(try Self.user("bo", .analyst), by: "dana")
            #expect(try await other.hqUsers() == [try Self.user("bo", .analyst), try Self.user("dana", .admin)])

            // A taken name (in any case), an unknown user, the last admin: refused, naming what, changing nothing.
            await #expect {
                try await storage.addHQUser(try Self.user("DANA", .analyst), by: "x")
            } throws: { ($0 as? HQAccessError)?.message == "user 'dana' already exists" }
            await #expect {
                try await other.removeHQUser(try HQUserName("cy"), by: "x")
            } throws: { ($0 as? HQAccessError)?.message == "no user 'cy'" }
            await #expect {
                try await other.removeHQUser(try HQUserName("dana"), by: "x")
            } throws: { ($0 as? HQAccessError)?.message.contains("last admin") == true }
            await #expect {
                try await storage.setHQUserPassword(try HQUserName("cy"), hash: "h", by: "x")
            } throws: { ($0 as? HQAccessError)?.message == "no user 'cy'" }
            #expect(try await storage.hqUsers().map(\.name.rawValue) == ["bo", "dana"])

            try await other.setHQUserPassword(try HQUserName("bo"), hash: "$2b$04$new", by: "dana")
            let bo = try #require(try await storage.hqUsers().first { $0.name.rawValue == "bo" })
            #expect(bo.passwordHash == "$2b$04$new" && bo.passwordChangedAt > bo.createdAt)

            // With a second admin, the first may go.
            try await storage.addHQUser(try Self.user("ed", .admin), by: "dana")
            try await other.removeHQUser(try HQUserName("dana"), by: "ed")
            #expect(try await storage.hqUsers().map(\.name.rawValue) == ["bo", "ed"])

            let audit = try await storage.hqAudit(limit: 10)
            #expect(
                audit.map { "\($0.actor) \($0.action) \($0.subject) \($0.detail)" } == [
                    "root (command line) user-added dana admin", "dana user-added bo analyst",
                    "dana password-changed bo ", "dana user-added ed admin", "ed user-removed dana ",
                ]
            )
            #expect(try await other.hqAudit(limit: 2).map(\.action) == ["user-added", "user-removed"])
        }
    }

    /// The audit read page by page (what a download does): every line once, oldest first, numbered upwards, through
    /// either handle; past the last line, nothing.
    @Test(arguments: StorageBackend.all)
    func theAuditIsReadPageByPageEveryLineOnce(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let storage = try #require(instance.storage as? any UserAdministration)
            let other = try #require(try await instance.secondHandle() as? any UserAdministration)
            let start = Date(millisecondsSince1970: 1_796_000_000_000)
            for index in 0..<120 {
                try await storage.recordHQAudit(
                    HQAuditEntry(
                        at: start.addingTimeInterval(Double(index)),
                        actor: "dana",
                        action: "a",
                        subject: "s\(index)"
                    )
                )
            }
            var read: [(number: Int64, entry: HQAuditEntry)] = []
            var pages = 0
            while true {
                let page = try await (pages % 2 == 0 ? storage : other).hqAudit(
                    after: read.last?.number ?? 0,
                    limit: 50
                )
                if page.isEmpty { break }
                read += page
                pages += 1
            }
            #expect(pages == 3)
            #expect(read.map(\.entry.subject) == (0..<120).map { "s\($0)" })
            #expect(zip(read, read.dropFirst()).allSatisfy { $0.number < $1.number })
            #expect(read.map(\.entry) == (try await storage.hqAudit(limit: .max)))
            #expect(try await other.hqAudit(after: read.last!.number, limit: 50).isEmpty)
        }
    }
}
