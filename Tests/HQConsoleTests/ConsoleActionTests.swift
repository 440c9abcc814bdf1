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

/// The console's actions as HQ's people take them and as an attacker tries them: a conflict settled with one click
/// and a review decided, each an HQ edit in the user's name and a line in the audit; an analyst refused on the
/// server, not only by a hidden button; a forged form refused; a bad value named with nothing changed.
@Suite struct ConsoleActionTests {
    /// HQ with a return in conflict (routed at two desks of `north` at once: dispose and recycle) and a return
    /// waiting for review (its order unknown to HQ), and users dana (admin), rick (returns manager), ana (analyst).
    struct Desk {
        let directory: TemporaryDirectory
        let storage: SQLiteServerStorage
        let console: HQConsole
        let inConflict: ReturnID
        let awaitingReview: ReturnID

        init() async throws {
            directory = try TemporaryDirectory()
            let (console, storage) = try HQConsoleTests.console(in: directory)
            self.console = console
            self.storage = storage
            try HQConsoleTests.addUser("rick", .returnsManager, to: storage)
            try HQConsoleTests.addUser("ana", .analyst, to: storage)
            (inConflict, awaitingReview) = try await DeskWork.push(into: storage.store, in: directory)
        }

        func item(_ id: ReturnID) throws -> (ProductReturn, VersionedRecord) {
            let record = try storage.store.returnRecord(id)
            return (try ProductReturn(record: record), record)
        }
    }

    /// The session's CSRF token, as the pages put it in every form.
    static func csrf(_ session: String) throws -> String {
        try #require(SessionToken(secret: session)).csrfToken
    }

    static func post(_ session: String) -> HTTPFields {
        [.contentType: "application/x-www-form-urlencoded", .cookie: "returnsync_session=\(session)"]
    }

    @Test func aConflictIsSettledWithOneClickInTheUsersName() async throws {
        let desk = try await Desk()
        let id = desk.inConflict
        try #require(desk.item(id).1.openConflicts(policy: ReturnEntity.policy).map(\.field) == ["disposition"])
        let app = Application(router: desk.console.router())
        try await app.test(.router) { client in
            let session = try await HQConsoleTests.signIn(client, as: "rick")
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(session)"]
            // Both values side by side, a button for each, on the conflicts page and on the return's.
            for page in ["/conflicts", "/returns/\(id.rawValue)"] {
                try await client.execute(uri: page, method: .get, headers: cookie) { response in
                    let body = String(buffer: response.body)
                    #expect(response.status == .ok)
                    #expect(
                        body.contains(">Keep dispose</button>") && body.contains(">Keep recycle</button>"),
                        "\(body)"
                    )
                    #expect(body.contains("/returns/\(id.rawValue)/settle"))
                }
            }
            try await client.execute(
                uri: "/returns/\(id.rawValue)/settle",
                method: .post,
                headers: Self.post(session),
                body: HQConsoleTests.form([
                    ("csrf", try Self.csrf(session)), ("field", "disposition"), ("value", "recycle"),
                    ("from", "conflicts"),
                ])
            ) { response in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/conflicts?settled=disposition")
            }
            try await client.execute(uri: "/conflicts?settled=disposition", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(body.contains("Settled disposition.") && body.contains("No open conflicts."), "\(body)")
            }
            // The downloads hold the conflict, settled now.
            try await client.execute(uri: "/conflicts.csv", method: .get, headers: cookie) { response in
                let lines = String(buffer: response.body).split(separator: "\r\n")
                #expect(
                    lines.count == 2 && lines[1].hasPrefix("\(id.rawValue),disposition,")
                        && lines[1].hasSuffix(",settled"),
                    "\(lines)"
                )
            }
            try await client.execute(uri: "/conflicts.json", method: .get, headers: cookie) { response in
                let entries = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                #expect(
                    entries?.first?["recordId"] as? String == id.rawValue && entries?.first?["open"] as? Bool == false
                )
            }
        }
        let (item, record) = try desk.item(id)
        #expect(item.disposition == .recycle && record.openConflicts(policy: ReturnEntity.policy).isEmpty)
        #expect(ReturnEdit.history(of: record).map(\.operatorID) == ["rick"], "the edit is recorded in rick's name")
        let audit = try await desk.storage.hqAudit(limit: 1)
        #expect(audit.map(\.action) == ["conflict-settled"] && audit.first?.actor == "rick")
        #expect(audit.first?.subject == id.rawValue && audit.first?.detail == "disposition: recycle")
    }

    @Test func aReviewIsDecidedFromTheQueueAndARejectionNeedsANote() async throws {
        let desk = try await Desk()
        let id = desk.awaitingReview
        try #require(try desk.storage.store.reviewQueue().map(\.id) == [id.rawValue])
        let app = Application(router: desk.console.router())
        try await app.test(.router) { client in
            let session = try await HQConsoleTests.signIn(client, as: "rick")
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(session)"]
            try await client.execute(uri: "/review", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(
                    body.contains("1 return waiting.") && body.contains("name=\"ids[]\" value=\"\(id.rawValue)\""),
                    "\(body)"
                )
                #expect(body.contains("aria-label=\"Select return \(id.rawValue)\""), "a labelled checkbox")
            }
            try await client.execute(uri: "/review.json", method: .get, headers: cookie) { response in
                let returns = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                #expect(returns?.map { $0["id"] as? String } == [id.rawValue])
            }
            let csrf = try Self.csrf(session)
            // Nothing picked, or a rejection without a note: said so, nothing decided.
            for fields in [
                [("csrf", csrf), ("decision", "approve")],
                [("csrf", csrf), ("ids[]", id.rawValue), ("decision", "reject"), ("note", " ")],
            ] {
                try await client.execute(
                    uri: "/review",
                    method: .post,
                    headers: Self.post(session),
                    body: HQConsoleTests.form(fields)
                ) { response in
                    let body = String(buffer: response.body)
                    #expect(response.status == .unprocessableContent, "\(body)")
                    #expect(body.contains("Nothing was changed."))
                }
            }
            #expect(try desk.storage.store.reviewQueue().count == 1)
            try await client.execute(
                uri: "/review",
                method: .post,
                headers: Self.post(session),
                body: HQConsoleTests.form([
                    ("csrf", csrf), ("ids[]", id.rawValue), ("decision", "reject"), ("note", "order unknown"),
                    ("from", "queue"),
                ])
            ) { response in
                #expect(
                    response.status == .seeOther && response.headers[.location] == "/review?decided=1&outcome=rejected"
                )
            }
            try await client.execute(uri: "/review?decided=1&outcome=rejected", method: .get, headers: cookie) {
                let body = String(buffer: $0.body)
                #expect(body.contains("1 return rejected.") && body.contains("Nothing waits for a review."), "\(body)")
            }
        }
        let (item, record) = try desk.item(id)
        #expect(item.review?.outcome == .rejected && item.review?.note == "order unknown" && !item.awaitsReview)
        #expect(ReturnEdit.history(of: record).map(\.operatorID) == ["rick"])
        #expect(try await desk.storage.hqAudit(limit: 1).map(\.action) == ["review-rejected"])
    }

    /// An analyst reads every queue but sees no buttons, and a form posted anyway — even with a valid token — is
    /// refused by the server and audited; a form without the session's token is refused for anyone.
    @Test func anAnalystCannotActAndAForgedFormIsRefused() async throws {
        let desk = try await Desk()
        let app = Application(router: desk.console.router())
        try await app.test(.router) { client in
            let analyst = try await HQConsoleTests.signIn(client, as: "ana")
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(analyst)"]
            for page in ["/conflicts", "/review", "/returns/\(desk.inConflict.rawValue)"] {
                try await client.execute(uri: page, method: .get, headers: cookie) { response in
                    let body = String(buffer: response.body)
                    #expect(response.status == .ok && !body.contains("<button type=\"submit\" name=\"decision\""))
                    #expect(!body.contains("Keep dispose"), "\(page)")
                }
            }
            let settle = [("field", "disposition"), ("value", "recycle")]
            let approve = [("ids[]", desk.awaitingReview.rawValue), ("decision", "approve")]
            for (uri, fields) in [("/returns/\(desk.inConflict.rawValue)/settle", settle), ("/review", approve)] {
                try await client.execute(
                    uri: uri,
                    method: .post,
                    headers: Self.post(analyst),
                    body: HQConsoleTests.form([("csrf", try Self.csrf(analyst))] + fields)
                ) { response in
                    let body = String(buffer: response.body)
                    #expect(response.status == .forbidden && body.contains("Your role (analyst) may not"), "\(body)")
                }
            }
            // A manager's session, but a form from elsewhere: no token, or another session's.
            let manager = try await HQConsoleTests.signIn(client, as: "rick")
            for token in [nil, try Self.csrf(analyst)] {
                try await client.execute(
                    uri: "/returns/\(desk.inConflict.rawValue)/settle",
                    method: .post,
                    headers: Self.post(manager),
                    body: HQConsoleTests.form((token.map { [("csrf", $0)] } ?? []) + settle)
                ) { response in #expect(response.status == .forbidden) }
            }
            // Without a session at all: to the sign-in page.
            try await client.execute(
                uri: "/review",
                method: .post,
                headers: HQConsoleTests.formType,
                body: HQConsoleTests.form(approve)
            ) { response in #expect(response.status == .seeOther && response.headers[.location] == "/login") }
        }
        #expect(try desk.item(desk.inConflict).1.openConflicts(policy: ReturnEntity.policy).count == 1)
        #expect(try desk.storage.store.reviewQueue().count == 1)
        let refused = try await desk.storage.hqAudit(limit: 20).filter { $0.action == "action-refused" }
        #expect(refused.map(\.actor) == ["ana", "ana"] && refused.allSatisfy { $0.detail.hasPrefix("role analyst") })
    }

    /// A note, a disposition, closing and voiding from the return's page: the command line's edits, in the user's
    /// name; a void without its reason is refused.
    @Test func aReturnIsEditedFromItsPage() async throws {
        let desk = try await Desk()
        // Inspected at the desks already: it may be routed.
        let id = desk.inConflict
        let app = Application(router: desk.console.router())
        try await app.test(.router) { client in
            let session = try await HQConsoleTests.signIn(client, as: "rick")
            let csrf = try Self.csrf(session)
            try await client.execute(
                uri: "/returns/\(id.rawValue)",
                method: .get,
                headers: [.cookie: "returnsync_session=\(session)"]
            ) {
                let body = String(buffer: $0.body)
                #expect(
                    body.contains("<label for=\"edit-disposition\">Route to</label>")
                        && body.contains(">Void the return</button>")
                )
            }
            func edit(_ fields: [(String, String)]) async throws -> (HTTPResponse.Status, String) {
                try await ConsoleFleetTests.submit(
                    client,
                    "/returns/\(id.rawValue)/edit",
                    as: session,
                    [("csrf", csrf)] + fields
                )
            }
            let routed = try await edit([("edit", "disposition"), ("disposition", "quarantine"), ("note", "smells")])
            #expect(routed.0 == .seeOther, "\(routed.1)")
            #expect(routed.1.hasSuffix("?edited=\(id.rawValue)%20dispositioned%3A%20quarantine"), "\(routed)")
            let bad = try await edit([("edit", "disposition"), ("disposition", "sell")])
            #expect(bad.0 == .unprocessableContent && bad.1.contains("invalid disposition &#39;sell&#39;"))
            let unexplained = try await edit([("edit", "void"), ("note", "  ")])
            #expect(unexplained.0 == .unprocessableContent, "\(unexplained)")
            #expect(try await edit([("edit", "note"), ("note", "called the customer")]).0 == .seeOther)
            // The edits read by the command line's own options: a field missing or bad is named, as there.
            let noVendor = try await edit([("edit", "repair"), ("status", "sent")])
            #expect(noVendor.0 == .unprocessableContent && noVendor.1.contains("--vendor"), "\(noVendor)")
            let rerouted = try await edit([("edit", "disposition"), ("disposition", "repair")])
            #expect(rerouted.0 == .seeOther, "\(rerouted)")
            let repair = try await edit([
                ("edit", "repair"), ("vendor", "FixIt & Co"), ("status", "sent"), ("sent", "2026-12-01"),
                ("help", "x"),
            ])
            #expect(repair.0 == .seeOther, "\(repair)")
        }
        let (item, record) = try desk.item(id)
        #expect(item.disposition == .repair && item.status != .voided)
        #expect(
            item.repair?.vendor == "FixIt & Co" && item.repair?.sentOn == "2026-12-01",
            "\(String(describing: item.repair))"
        )
        #expect(item.notes.map(\.text).contains("called the customer"))
        #expect(ReturnEdit.history(of: record).map(\.operatorID) == ["rick", "rick", "rick", "rick"])
    }

    /// A value the field cannot take: named on the page, the conflict still open.
    @Test func aBadSettleValueIsNamedAndChangesNothing() async throws {
        let desk = try await Desk()
        let app = Application(router: desk.console.router())
        try await app.test(.router) { client in
            let session = try await HQConsoleTests.signIn(client, as: "dana")
            try await client.execute(
                uri: "/returns/\(desk.inConflict.rawValue)/settle",
                method: .post,
                headers: Self.post(session),
                body: HQConsoleTests.form([
                    ("csrf", try Self.csrf(session)), ("field", "disposition"), ("value", "<sell>"),
                ])
            ) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .unprocessableContent && body.contains("&lt;sell&gt;"), "\(body)")
                #expect(!body.contains("<sell>"))
            }
        }
        #expect(try desk.item(desk.inConflict).1.openConflicts(policy: ReturnEntity.policy).count == 1)
    }
}
