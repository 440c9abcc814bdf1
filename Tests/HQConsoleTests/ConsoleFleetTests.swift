import Crypto
import Foundation
import HQAccess
import HQConsole
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing
import WireProtocol

/// Recalls, kiosks and orders in the console: each action for the role that may, refused on the server for the
/// role that may not, audited, and a bad value named with nothing changed.
@Suite struct ConsoleFleetTests {
    static func post(_ session: String, type: String = "application/x-www-form-urlencoded") -> HTTPFields {
        [.contentType: type, .cookie: "returnsync_session=\(session)"]
    }

    /// Posts `fields` as a form in `session`; the answer's status and where it sends the browser (or its page).
    static func submit(
        _ client: some TestClientProtocol,
        _ path: String,
        as session: String,
        _ fields: [(String, String)]
    ) async throws -> (HTTPResponse.Status, String) {
        try await client.execute(
            uri: path,
            method: .post,
            headers: post(session),
            body: HQConsoleTests.form(fields)
        ) { ($0.status, $0.headers[.location] ?? String(buffer: $0.body)) }
    }

    @Test func aRecallManagerStartsAndClosesACampaignAReturnsManagerCannot() async throws {
        let desk = try await ConsoleActionTests.Desk()
        try HQConsoleTests.addUser("rita", .recallManager, to: desk.storage)
        let app = Application(router: desk.console.router())
        let campaign: [(String, String)] = [
            ("id", "RC-7"), ("gtins", "4006381333931"), ("hazard", "overheats"),
            ("instructions", "quarantine <now>"), ("units", "40"),
        ]
        try await app.test(.router) { client in
            let rick = try await HQConsoleTests.signIn(client, as: "rick")
            try await client.execute(
                uri: "/recalls",
                method: .post,
                headers: Self.post(rick),
                body: HQConsoleTests.form([("csrf", try ConsoleActionTests.csrf(rick))] + campaign)
            ) { response in
                #expect(response.status == .forbidden && String(buffer: response.body).contains("returns-manager"))
            }
            let rita = try await HQConsoleTests.signIn(client, as: "rita")
            let csrf = try ConsoleActionTests.csrf(rita)
            // A bad count: named, nothing started.
            try await client.execute(
                uri: "/recalls",
                method: .post,
                headers: Self.post(rita),
                body: HQConsoleTests.form([("csrf", csrf)] + campaign.dropLast() + [("units", "many")])
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("invalid units &#39;many&#39;"))
            }
            #expect(try await desk.storage.recallCampaigns().isEmpty)
            try await client.execute(
                uri: "/recalls",
                method: .post,
                headers: Self.post(rita),
                body: HQConsoleTests.form([("csrf", csrf)] + campaign)
            ) { response in
                // Both of the desk's returns are of the recalled product.
                #expect(response.headers[.location] == "/recalls?created=RC-7&flagged=2")
            }
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(rita)"]
            try await client.execute(uri: "/recalls?created=RC-7&flagged=2", method: .get, headers: cookie) {
                let body = String(buffer: $0.body)
                #expect(body.contains("Recall RC-7 started; 2 returns already held at HQ flagged."), "\(body)")
                #expect(body.contains("quarantine &lt;now&gt;") && body.contains("<th>completion</th>"))
                #expect(body.contains(">Close RC-7</button>"))
            }
            try await client.execute(
                uri: "/recalls/RC-7/close",
                method: .post,
                headers: Self.post(rita),
                body: HQConsoleTests.form([("csrf", csrf)])
            ) { response in #expect(response.headers[.location] == "/recalls?closed=RC-7") }
            try await client.execute(uri: "/recalls.json", method: .get, headers: cookie) { response in
                let campaigns = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                #expect(
                    campaigns?.first?["id"] as? String == "RC-7" && campaigns?.first?["status"] as? String == "closed"
                )
            }
        }
        let flagged = try desk.storage.store.returnRecords().map { try ProductReturn(record: $0) }
        #expect(flagged.allSatisfy { $0.recallCampaign == "RC-7" })
        let audit = try await desk.storage.hqAudit(limit: 10).filter { $0.action != "signed-in" }.suffix(3)
            .map { "\($0.actor) \($0.action) \($0.subject)" }
        #expect(audit == ["rick action-refused /recalls", "rita recall-started RC-7", "rita recall-closed RC-7"])
    }

    @Test func anAdminEnrollsAKioskSeesTheTokenOnceAndRevokesIt() async throws {
        let desk = try await ConsoleActionTests.Desk()
        let app = Application(router: desk.console.router())
        try await app.test(.router) { client in
            let rick = try await HQConsoleTests.signIn(client, as: "rick")
            try await client.execute(
                uri: "/kiosks/enroll",
                method: .post,
                headers: Self.post(rick),
                body: HQConsoleTests.form([
                    ("csrf", try ConsoleActionTests.csrf(rick)), ("store", "north"), ("kiosk", "k7"), ("days", "7"),
                ])
            ) { #expect($0.status == .forbidden) }
            let dana = try await HQConsoleTests.signIn(client, as: "dana")
            let csrf = try ConsoleActionTests.csrf(dana)
            try await client.execute(
                uri: "/kiosks/enroll",
                method: .post,
                headers: Self.post(dana),
                body: HQConsoleTests.form([("csrf", csrf), ("store", "north/x"), ("kiosk", "k7"), ("days", "7")])
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("north/x"))
            }
            let token = try await client.execute(
                uri: "/kiosks/enroll",
                method: .post,
                headers: Self.post(dana),
                body: HQConsoleTests.form([("csrf", csrf), ("store", "north"), ("kiosk", "k7"), ("days", "7")])
            ) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .ok && body.contains("Shown this once"))
                #expect(response.headers[.cacheControl] == "no-store", "never kept by the browser's cache")
                let start = try #require(body.range(of: "<code class=\"token\">"))
                return String(body[start.upperBound...].prefix { $0 != "<" })
            }
            // The kiosk redeems it: the token's key proves it, as `kiosk init --token` would.
            let parsed = try EnrollmentToken(token)
            try desk.storage.store.redeemEnrollment(
                store: StoreID("north"),
                kiosk: KioskID("k7"),
                publicKey: Curve25519.Signing.PrivateKey().publicKey.rawRepresentation
            ) { $0 == parsed.proofKey.publicKey.rawRepresentation }
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(dana)"]
            try await client.execute(uri: "/kiosks", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(body.contains("1 enrolled.") && body.contains(">Revoke north/k7</button>"))
                #expect(!body.contains(parsed.secret), "the token is never shown again")
            }
            // Revoking needs the confirmation ticked.
            let revoke = [("csrf", csrf), ("store", "north"), ("kiosk", "k7")]
            try await client.execute(
                uri: "/kiosks/revoke",
                method: .post,
                headers: Self.post(dana),
                body: HQConsoleTests.form(revoke)
            ) { #expect($0.status == .unprocessableContent) }
            #expect(try await desk.storage.enrolledKiosks().first?.revokedAt == nil)
            try await client.execute(
                uri: "/kiosks/revoke",
                method: .post,
                headers: Self.post(dana),
                body: HQConsoleTests.form(revoke + [("confirm", "yes")])
            ) { #expect($0.headers[.location] == "/kiosks?revoked=north%2Fk7") }
            try await client.execute(uri: "/kiosks.json", method: .get, headers: cookie) { response in
                let kiosks = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                #expect(kiosks?.first?["replicaId"] as? String == "north/k7")
                #expect(kiosks?.first?["revokedAt"] is String, "revoked, as kiosks list --json says it")
            }
        }
        #expect(try await desk.storage.enrolledKiosks().first?.revokedAt != nil)
        let audit = try await desk.storage.hqAudit(limit: 2).map { "\($0.action) \($0.subject) \($0.detail)" }
        #expect(audit == ["kiosk-token-issued north/k7 valid 7 d", "kiosk-revoked north/k7 "], "no token in the audit")
    }

    /// Users managed in the browser by an admin only, under the command line's rules; every change audited in the
    /// admin's name; a new password ends the user's sessions.
    @Test func anAdminManagesUsersUnderTheSameRules() async throws {
        let desk = try await ConsoleActionTests.Desk()
        let app = Application(router: desk.console.router())
        try await app.test(.router) { client in
            let rick = try await HQConsoleTests.signIn(client, as: "rick")
            try await client.execute(uri: "/users", method: .get, headers: [.cookie: "returnsync_session=\(rick)"]) {
                #expect($0.status == .forbidden, "only admins see users and the audit")
            }
            let dana = try await HQConsoleTests.signIn(client, as: "dana")
            let csrf = try ConsoleActionTests.csrf(dana)
            func post(_ path: String, _ fields: [(String, String)]) async throws -> (HTTPResponse.Status, String) {
                try await Self.submit(client, path, as: dana, [("csrf", csrf)] + fields)
            }
            let password = HQConsoleTests.password
            let differ = try await post(
                "/users/add",
                [("name", "zoe"), ("role", "analyst"), ("password", password), ("again", password + "!")]
            )
            #expect(differ.0 == .unprocessableContent && differ.1.contains("the passwords differ"))
            let short = try await post(
                "/users/add",
                [("name", "zoe"), ("role", "analyst"), ("password", "short"), ("again", "short")]
            )
            #expect(short.0 == .unprocessableContent && !short.1.contains("value=\"short\""), "\(short)")
            let taken = try await post(
                "/users/add",
                [("name", "RICK"), ("role", "admin"), ("password", password), ("again", password)]
            )
            #expect(taken.0 == .unprocessableContent && taken.1.contains("already exists"))
            let added = try await post(
                "/users/add",
                [("name", "zoe"), ("role", "recall-manager"), ("password", password), ("again", password)]
            )
            #expect(added.0 == .seeOther, "\(added)")
            // zoe signs in; a new password set by the admin ends her session.
            let zoe = try await HQConsoleTests.signIn(client, as: "zoe")
            let reset = try await post(
                "/users/password",
                [("name", "zoe"), ("password", password + "2"), ("again", password + "2")]
            )
            #expect(reset.0 == .seeOther)
            try await client.execute(uri: "/", method: .get, headers: [.cookie: "returnsync_session=\(zoe)"]) {
                #expect($0.status == .seeOther)
            }
            #expect(try await post("/users/remove", [("name", "zoe")]).0 == .unprocessableContent, "not confirmed")
            #expect(try await post("/users/remove", [("name", "zoe"), ("confirm", "yes")]).0 == .seeOther)
            let last = try await post("/users/remove", [("name", "dana"), ("confirm", "yes")])
            #expect(last.0 == .unprocessableContent && last.1.contains("last admin"), "\(last)")
            try await client.execute(uri: "/users", method: .get, headers: [.cookie: "returnsync_session=\(dana)"]) {
                let body = String(buffer: $0.body)
                #expect(body.contains("<td>dana</td><td>user-removed</td><td>zoe</td>"), "\(body)")
            }
            try await client.execute(uri: "/audit.csv", method: .get, headers: [.cookie: "returnsync_session=\(dana)"])
            {
                let lines = String(buffer: $0.body).split(separator: "\r\n")
                #expect(
                    lines.first == "at,actor,action,subject,detail"
                        && lines.last?.contains(",dana,user-removed,zoe,") == true
                )
            }
            try await client.execute(uri: "/users.json", method: .get, headers: [.cookie: "returnsync_session=\(rick)"])
            {
                #expect($0.status == .forbidden)
            }
        }
        #expect(try await desk.storage.hqUsers().map(\.name.rawValue) == ["ana", "dana", "rick"])
    }

    /// The audit downloads whole in both formats, however long it grows: written a page of lines at a time, every
    /// line of every page, oldest first, each once — a comma, a quote and a formula in a line included.
    @Test func theWholeAuditDownloadsPageByPageInBothFormats() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try HQConsoleTests.console(in: directory)
        try HQConsoleTests.addUser("rick", .returnsManager, to: storage)
        let start = Date(millisecondsSince1970: 1_796_000_000_000)
        for index in 0..<(HQConsole.downloadPage + 5) {
            try await storage.recordHQAudit(
                HQAuditEntry(
                    at: start.addingTimeInterval(Double(index)),
                    actor: "dana",
                    action: "review-decided",
                    subject: "R\(index)",
                    detail: index == 7 ? "=SUM(A1), \"quoted\"" : "line \(index)"
                )
            )
        }
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            let dana = try await HQConsoleTests.signIn(client, as: "dana")
            let expected = try await storage.hqAudit(limit: .max)
            #expect(expected.count > HQConsole.downloadPage + 5, "the lines above, the users added, the sign-in")
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(dana)"]
            let json = try await client.execute(uri: "/audit.json", method: .get, headers: cookie) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "application/json")
                #expect(response.headers[.contentDisposition] == "attachment; filename=\"audit.json\"")
                return Data(buffer: response.body)
            }
            let objects = try #require(try JSONSerialization.jsonObject(with: json) as? [[String: String]])
            #expect(
                objects.map { [$0["at"], $0["actor"], $0["action"], $0["subject"], $0["detail"]] }
                    == expected.map {
                        [ISO8601Milliseconds.format($0.at), $0.actor, $0.action, $0.subject, $0.detail]
                    }
            )
            let csv = try await client.execute(uri: "/audit.csv", method: .get, headers: cookie) { response in
                #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                return String(buffer: response.body)
            }
            let lines = csv.split(separator: "\r\n", omittingEmptySubsequences: false)
            #expect(lines.count == expected.count + 2, "a header, every line, and the last line's end")
            #expect(lines.first == "at,actor,action,subject,detail" && lines.last == "")
            #expect(lines.contains(#"2026-11-30T00:53:27.000Z,dana,review-decided,R7,"'=SUM(A1), ""quoted""""#))
            let last = HQConsole.downloadPage + 4
            #expect(lines[lines.count - 3].hasSuffix(",dana,review-decided,R\(last),line \(last)"))
            #expect(lines[lines.count - 2].hasSuffix(",dana,signed-in,dana,from unknown"))
            // Nobody but an admin downloads it.
            let rick = try await HQConsoleTests.signIn(client, as: "rick")
            try await client.execute(uri: "/audit.json", method: .get, headers: [.cookie: "returnsync_session=\(rick)"])
            {
                #expect($0.status == .forbidden)
            }
        }
    }

    /// Every return downloads, however many: written a page at a time in the list's order (capture time, then id),
    /// each return once, in both formats; a filter still applies across pages.
    @Test func everyReturnDownloadsPageByPage() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try HQConsoleTests.console(in: directory)
        let kiosk = try ReplicaID("north/a")
        let start = Date().addingTimeInterval(-86_400)
        // Returns captured two at a time (the same millisecond) after the first, so that the first page ends between
        // two of one millisecond (ordered by id there).
        let records = try (0..<(HQConsole.downloadPage + 7)).map { index in
            try SampleData.capturedReturn(
                by: kiosk,
                at: start.addingTimeInterval(Double((index + 1) / 2)),
                orderID: "ORD-\(index)"
            )
        }
        _ = try storage.store.acceptPush(records, from: kiosk, store: StoreID("north"))
        let expected = try await storage.findReturns(ReturnSearch(), records: false).returns.map(\.row.id)
        #expect(expected.count == records.count && Set(expected) == Set(records.map(\.id)))
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            let dana = try await HQConsoleTests.signIn(client, as: "dana")
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(dana)"]
            try await client.execute(uri: "/returns.json", method: .get, headers: cookie) { response in
                let rows = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: String]]
                #expect(rows?.map { $0["id"] ?? "" } == expected)
            }
            try await client.execute(uri: "/returns.csv", method: .get, headers: cookie) { response in
                let lines = String(buffer: response.body).split(separator: "\r\n")
                #expect(lines.count == expected.count + 1)
                #expect(lines.dropFirst().map { String($0.prefix { $0 != "," }) } == expected)
            }
            try await client.execute(uri: "/returns.json?store=south", method: .get, headers: cookie) { response in
                #expect(String(buffer: response.body) == "[]\n")
            }
        }
    }

    /// Policies and store settings set by an admin, named when bad, refused for others.
    @Test func anAdminSetsPoliciesAndStores() async throws {
        let desk = try await ConsoleActionTests.Desk()
        let app = Application(router: desk.console.router())
        try await app.test(.router) { client in
            let rick = try await HQConsoleTests.signIn(client, as: "rick")
            try await client.execute(
                uri: "/settings/store",
                method: .post,
                headers: Self.post(rick),
                body: HQConsoleTests.form([
                    ("csrf", try ConsoleActionTests.csrf(rick)), ("store", "north"), ("timeZone", "Europe/Berlin"),
                ])
            ) { #expect($0.status == .forbidden) }
            let dana = try await HQConsoleTests.signIn(client, as: "dana")
            let csrf = try ConsoleActionTests.csrf(dana)
            func post(_ path: String, _ fields: [(String, String)]) async throws -> (HTTPResponse.Status, String) {
                try await Self.submit(client, path, as: dana, [("csrf", csrf)] + fields)
            }
            let zone = try await post("/settings/store", [("store", "north"), ("timeZone", "Mars/Olympus")])
            #expect(zone.0 == .unprocessableContent && zone.1.contains("Mars/Olympus"), "\(zone)")
            #expect(
                try await post("/settings/store", [("store", "north"), ("timeZone", "Europe/Berlin")]).0 == .seeOther
            )
            // The kiosks' retention (issue 22): out of range named, in range set.
            let short = try await post("/settings/store", [("store", "north"), ("retentionDays", "3")])
            #expect(short.0 == .unprocessableContent && short.1.contains("invalid retention 3 days"), "\(short)")
            #expect(try await post("/settings/store", [("store", "north"), ("retentionDays", "90")]).0 == .seeOther)
            let fee = try await post("/settings/policy", [("windowDays", "30"), ("restockingFee", "150%")])
            #expect(fee.0 == .unprocessableContent && fee.1.contains("150%"), "\(fee)")
            let set = try await post(
                "/settings/policy",
                [("store", "north"), ("windowDays", "14"), ("receiptRequired", "yes"), ("restockingFee", "15%")]
            )
            #expect(set.0 == .seeOther, "\(set)")
            try await client.execute(uri: "/settings", method: .get, headers: [.cookie: "returnsync_session=\(dana)"]) {
                let body = String(buffer: $0.body)
                #expect(body.contains("<td>north</td><td>Europe/Berlin</td><td>—</td><td>90 days</td>"), "\(body)")
                #expect(body.contains("<td>14 days</td><td>required</td><td>15%</td>"), "\(body)")
            }
            #expect(try await post("/settings/policy/remove", [("store", "north")]).0 == .seeOther)
        }
        #expect(try await desk.storage.returnPolicies().isEmpty)
        #expect(try await desk.storage.storeTimeZones()[StoreID("north")].identifier == "Europe/Berlin")
    }

    /// Anyone changes their own password, proving the current one; a wrong one counts toward the lock-out; every
    /// session of theirs ends.
    @Test func aUserChangesTheirOwnPassword() async throws {
        let desk = try await ConsoleActionTests.Desk()
        let app = Application(router: desk.console.router())
        let fresh = HQConsoleTests.password + " again"
        try await app.test(.router) { client in
            let ana = try await HQConsoleTests.signIn(client, as: "ana")
            func change(_ current: String) async throws -> (HTTPResponse.Status, String) {
                try await Self.submit(
                    client,
                    "/account/password",
                    as: ana,
                    [
                        ("csrf", try ConsoleActionTests.csrf(ana)), ("current", current), ("password", fresh),
                        ("again", fresh),
                    ]
                )
            }
            let wrong = try await change("not my password")
            #expect(wrong.0 == .unprocessableContent && wrong.1.contains("the current password is wrong"))
            let changed = try await change(HQConsoleTests.password)
            #expect(changed.0 == .seeOther && changed.1 == "/login")
            try await client.execute(uri: "/", method: .get, headers: [.cookie: "returnsync_session=\(ana)"]) {
                #expect($0.status == .seeOther, "the session ended")
            }
        }
        let state = try #require(try await desk.storage.hqSignInState(try HQUserName("ana")))
        #expect(PasswordHasher.verify(fresh, hash: state.user.passwordHash))
        let audit = try await desk.storage.hqAudit(limit: 2).map { "\($0.actor) \($0.action) \($0.detail)" }
        #expect(audit.first?.hasSuffix("sign-in-refused from password change") == true, "\(audit)")
        #expect(audit.last == "ana password-changed ", "\(audit)")
    }

    /// A browser's file upload, as multipart/form-data.
    static func upload(_ csv: String, csrf: String, boundary: String = "----form-boundary-42") -> ByteBuffer {
        ByteBuffer(
            string: """
                --\(boundary)\r
                Content-Disposition: form-data; name="csrf"\r
                \r
                \(csrf)\r
                --\(boundary)\r
                Content-Disposition: form-data; name="file"; filename="orders.csv"\r
                Content-Type: text/csv\r
                \r
                \(csv)\r
                --\(boundary)--\r

                """
        )
    }

    @Test func anOrdersUploadImportsAllOrNamesEveryBadLine() async throws {
        let desk = try await ConsoleActionTests.Desk()
        let app = Application(router: desk.console.router())
        let header = OrderCSV.columns.joined(separator: ",")
        let good = "\(header)\nORD-404,north,1,4006381333931,,2,19.99,2026-12-01\n"
        let bad = "\(header)\nORD-404,north,1,4006381333931,,2,19.99,2026-12-01\nORD-5,north,x,123,,0,-1,soon\n"
        let type = "multipart/form-data; boundary=----form-boundary-42"
        try await app.test(.router) { client in
            let ana = try await HQConsoleTests.signIn(client, as: "ana")
            try await client.execute(
                uri: "/orders",
                method: .post,
                headers: Self.post(ana, type: type),
                body: Self.upload(good, csrf: try ConsoleActionTests.csrf(ana))
            ) { #expect($0.status == .forbidden) }
            let dana = try await HQConsoleTests.signIn(client, as: "dana")
            let csrf = try ConsoleActionTests.csrf(dana)
            try await client.execute(
                uri: "/orders",
                method: .post,
                headers: Self.post(dana, type: type),
                body: Self.upload(bad, csrf: csrf)
            ) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .unprocessableContent && body.contains("<li>line 3: "), "\(body)")
                #expect(!body.contains("line 2:"), "the good line is not named")
            }
            #expect(try await desk.storage.orderLines(store: nil).count == 1, "nothing imported")
            // Not text at all: said so, nothing imported.
            // A Latin-1 file: bytes that are not UTF-8 where the file's content goes.
            let form = String(buffer: Self.upload("", csrf: csrf))
            let content = try #require(form.range(of: "text/csv\r\n\r\n")).upperBound
            var latin1 = ByteBuffer(string: String(form[..<content]))
            latin1.writeBytes([0x4F, 0x52, 0x44, 0xC4, 0xE4, 0xFF])
            latin1.writeString(String(form[content...]))
            try await client.execute(
                uri: "/orders",
                method: .post,
                headers: Self.post(dana, type: type),
                body: latin1
            ) { response in
                #expect(response.status == .unprocessableContent)
                #expect(String(buffer: response.body).contains("not UTF-8 text"))
            }
            // Without the session's token: refused like any forged form.
            try await client.execute(
                uri: "/orders",
                method: .post,
                headers: Self.post(dana, type: type),
                body: Self.upload(good, csrf: "forged")
            ) { #expect($0.status == .forbidden) }
            let location = try await client.execute(
                uri: "/orders",
                method: .post,
                headers: Self.post(dana, type: type),
                body: Self.upload(good, csrf: csrf)
            ) { response in
                #expect(response.status == .seeOther)
                return response.headers[.location] ?? ""
            }
            #expect(location.hasPrefix("/orders?imported=Imported%201%20order%20lines"), "\(location)")
            try await client.execute(uri: location, method: .get, headers: [.cookie: "returnsync_session=\(dana)"]) {
                let body = String(buffer: $0.body)
                #expect(body.contains("1 new, 0 updated, 0 unchanged; 1 returns re-verified."), "\(body)")
                #expect(body.contains("2 lines."))
            }
            // The CSV download is an orders file that imports again, unchanged.
            let download = try await client.execute(
                uri: "/orders.csv",
                method: .get,
                headers: [.cookie: "returnsync_session=\(dana)"]
            ) { String(buffer: $0.body) }
            let again = try await desk.storage.importOrders(csv: download, defaultCurrency: nil)
            #expect(again.lines == 2 && again.outcome.unchanged == 2, "\(download)")
        }
        // The return against ORD-404 no longer waits: its order is known now.
        #expect(try desk.storage.store.reviewQueue().isEmpty)
    }
}
