import Foundation
import HQAccess
import Testing

@Suite struct HQAccessTests {
    /// Each role does what the one below it does, and one kind of thing more — checked for every pair.
    @Test func eachRoleMayDoExactlyWhatTheIssueGrantsIt() {
        let granted: [HQRole: Set<HQAction>] = [
            .analyst: [.read],
            .returnsManager: [.read, .editReturns],
            .recallManager: [.read, .editReturns, .runRecalls],
            .admin: Set(HQAction.allCases),
        ]
        for role in HQRole.allCases {
            for action in HQAction.allCases {
                #expect(role.may(action) == granted[role]!.contains(action), "\(role) \(action)")
            }
        }
    }

    @Test(arguments: ["dana", "Dana.Smith@example.com", "ops_2", "a"])
    func goodNamesAreKeptInLowerCase(text: String) throws {
        #expect(try HQUserName(text).rawValue == text.lowercased())
    }

    @Test(arguments: ["", "dana smith", "<script>", "dana/../x", String(repeating: "a", count: 65), "ünïcode"])
    func badNamesAreRefusedNamingTheValue(text: String) {
        #expect {
            try HQUserName(text)
        } throws: { error in
            "\(error)".contains("invalid user name '\(text)'")
        }
    }

    @Test func aBadRoleNamesTheValueAndTheGoodOnes() {
        #expect {
            try HQRole(parsing: "superuser")
        } throws: { error in
            "\(error)" == "invalid role 'superuser': expected analyst|returns-manager|recall-manager|admin"
        }
    }

    /// Short, over-long (bcrypt would read only 72 bytes of it) and multi-line passwords are refused, and the
    /// message never repeats the password.
    @Test(arguments: [
        ("short-one", "too short"),
        (String(repeating: "é", count: 37), "too long"),
        ("twelve chars\nand more", "line break"),
    ])
    func passwordsThatWillNotDoAreRefused(password: String, reason: String) {
        #expect {
            try PasswordHasher(cost: 4).hash(password)
        } throws: { error in
            "\(error)".contains(reason) && !"\(error)".contains(password)
        }
    }

    @Test func aHashVerifiesItsPasswordOnlyAndIsSaltedEachTime() throws {
        let hasher = PasswordHasher(cost: 4)
        let first = try hasher.hash("correct horse battery")
        let second = try hasher.hash("correct horse battery")
        #expect(first.hasPrefix("$2b$04$") && first != second, "salted: \(first) \(second)")
        #expect(PasswordHasher.verify("correct horse battery", hash: first))
        #expect(PasswordHasher.verify("correct horse battery", hash: second))
        #expect(!PasswordHasher.verify("correct horse batterz", hash: first))
        #expect(!PasswordHasher.verify("", hash: first))
    }

    @Test func theLastAdminStaysAndNamesAreUnique() throws {
        func user(_ name: String, _ role: HQRole) throws -> HQUser {
            HQUser(
                name: try HQUserName(name),
                role: role,
                passwordHash: "x",
                createdAt: Date(),
                passwordChangedAt: Date()
            )
        }
        let users = [try user("ada", .admin), try user("bo", .analyst)]
        #expect(
            HQUserRules.refusalToRemove(try HQUserName("ada"), existing: users)?.message.contains("last admin") == true
        )
        #expect(HQUserRules.refusalToRemove(try HQUserName("bo"), existing: users) == nil)
        #expect(HQUserRules.refusalToRemove(try HQUserName("cy"), existing: users)?.message == "no user 'cy'")
        #expect(HQUserRules.refusalToRemove(try HQUserName("ada"), existing: users + [try user("cy", .admin)]) == nil)
        #expect(HQUserRules.refusalToAdd(try HQUserName("BO"), existing: users)?.message == "user 'bo' already exists")
    }
}
