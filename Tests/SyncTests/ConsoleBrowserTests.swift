import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing
import WireProtocol

/// What the console's browser suite needs: chromium, chromium-driver and Selenium (`.ci/run` installs all three and
/// refuses to run without them, so CI always runs it).
enum ConsoleBrowser {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Browser/console_walkthrough.py").path
    /// Where the screenshots go: `.build/console-screenshots/` (not committed), for a reviewer to look at.
    static let screenshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/console-screenshots").path
    static var available: Bool {
        ["/usr/bin/chromium", "/usr/bin/chromedriver"].allSatisfy(FileManager.default.isExecutableFile(atPath:))
            && (try? ChildProcess(
                "/usr/bin/env",
                ["python3", "-c", "import selenium"],
                output: .discard,
                error: .discard
            )
            .waitUntilExit().status) == 0
    }
}

/// HQ's console as a person uses it, in Debian's chromium: sent to sign in, refused a wrong password, signed in
/// with the keyboard, the dashboard's figures, the session cookie out of any script's reach, a forged cross-site
/// form that changes nothing, sign-out — against a real `returns-server serve --console-port 0`. Screenshots at a
/// laptop's and a tablet's width land in `.build/console-screenshots/`.
@Suite(.enabled(if: ConsoleBrowser.available, "needs chromium, chromium-driver and selenium"))
struct ConsoleBrowserTests {
    @Test func anAdminSignsInSeesTheDashboardAndSignsOutInARealBrowser() async throws {
        let directory = try TemporaryDirectory()
        let password = "correct horse battery staple"
        let added = try await UsersCommandTests.run(
            ["users", "add", "dana", "--role", "admin"],
            input: password + "\n",
            in: directory
        )
        try #require(added.status == 0, "\(added)")
        let analyst = try await UsersCommandTests.run(
            ["users", "add", "ana", "--role", "analyst"],
            input: password + "\n",
            in: directory
        )
        try #require(analyst.status == 0, "\(analyst)")
        // A return at each of two stores, each with a note a kiosk typed as markup; a conflict and a review at north.
        let hq = try ReplicaStore.open(at: directory.file("hq.sqlite"))
        let work = try await DeskWork.push(into: hq, in: directory)
        // The two stores' orders are known, so only the desk's return waits for review.
        _ = try hq.importOrders(
            try ["north", "south"].map { store in
                try OrderLine(
                    orderID: OrderID("O-\(store)"),
                    storeID: StoreID(store),
                    line: 1,
                    gtin: GTIN("4006381333931"),
                    quantity: 5,
                    unitPriceCents: 500,
                    soldAt: Date().addingTimeInterval(-86_400)
                )
            }
        )
        for store in ["north", "south"] {
            let kiosk = try ReplicaStore.create(
                at: directory.file("\(store).sqlite"),
                identity: .kiosk(store: StoreID(store), kiosk: KioskID("k9"))
            )
            let item = try kiosk.recordReturn(
                ReturnCapture(orderID: OrderID("O-\(store)"), gtin: GTIN("4006381333931"), reason: .damaged)
            )
            _ = try kiosk.updateReturn(item.id, operation: "note") { item, author, date in
                try item.addNote("<script>alert('\(store)')</script>", by: author, at: date)
            }
            _ = try hq.acceptPush(try kiosk.returnRecords(), from: kiosk.identity.replicaID, store: StoreID(store))
        }
        let server = try CrashSafetyTests.Child(
            "returns-server",
            ["serve", "--db", "hq.sqlite", "--port", "0", "--console-port", "0"],
            in: directory.path,
            keepsErrors: true
        )
        defer {
            server.kill()
            _ = server.finish()
        }
        let (listening, console) = try await offThePool { (server.firstLine(), server.firstLine()) }
        #expect(listening.hasPrefix("listening on 127.0.0.1:"), "the sync port stays the first line")
        try #require(console.hasPrefix("console on http://127.0.0.1:"), "\(console)")
        let url = String(console.dropFirst("console on ".count))
        // A kiosk of north, enrolled, with a return captured offline: the walkthrough syncs it while the dashboard is
        // open, and watches the figures change without a reload.
        let address = String(listening.dropFirst("listening on ".count))
        let token = try await offThePool {
            try ToolRun(
                "returns-server",
                ["enroll", "--db", "hq.sqlite", "--store", "north", "--kiosk", "k5"],
                in: directory.path
            )
        }
        try #require(token.status == 0, "\(token.stderr)")
        let kiosk = try await offThePool {
            let initialised = try ToolRun(
                "kiosk",
                [
                    "init", "--db", "k5.sqlite", "--store", "north", "--kiosk", "k5", "--server", address, "--token",
                    token.line,
                ],
                in: directory.path
            )
            let recorded = try ToolRun(
                "kiosk",
                [
                    "record", "--db", "k5.sqlite", "--order", "O-north", "--gtin", "4006381333931", "--reason",
                    "defective",
                ],
                in: directory.path
            )
            return (initialised, recorded)
        }
        try #require(kiosk.0.status == 0 && kiosk.1.status == 0, "\(kiosk.0.stderr) \(kiosk.1.stderr)")
        let push = String(
            decoding: try JSONEncoder().encode([
                ToolRun.binaries.appendingPathComponent("kiosk").path, "sync", "--db", "k5.sqlite",
            ]),
            as: UTF8.self
        )
        let walkthrough = try await UsersCommandTests.execute(
            "/usr/bin/env",
            ["python3", ConsoleBrowser.script, url, "dana", password, ConsoleBrowser.screenshots, "ana", push],
            input: "",
            in: directory
        )
        #expect(walkthrough.status == 0, "\(walkthrough.stdout)\n\(walkthrough.stderr)")
        #expect(walkthrough.stdout.hasSuffix("walkthrough complete\n"), "\(walkthrough.stdout)")
        // What the audit holds: the refusal and the sign-in from the browser's address, the settlement and the
        // approval in dana's name, the sign-out; the analyst's sign-in and refused approval.
        let after = try ReplicaStore.open(at: directory.file("hq.sqlite"))
        let audit = try after.hqAudit(limit: 20).map { "\($0.actor) \($0.action) \($0.subject) \($0.detail)" }
        #expect(
            Array(audit.suffix(7)) == [
                "(not signed in) sign-in-refused dana from 127.0.0.1", "dana signed-in dana from 127.0.0.1",
                "dana conflict-settled \(work.inConflict) disposition: recycle",
                "dana review-approved \(work.awaitingReview) receipt seen", "dana signed-out dana ",
                "ana signed-in ana from 127.0.0.1",
                "ana action-refused /review role analyst may not "
                    + "settle conflicts, set dispositions or decide reviews",
            ],
            "\(audit)"
        )
        // The kiosk that synced during the walkthrough: its last sync and the protocol version it spoke.
        let synced = try after.enrolledKiosks().first { $0.replicaID == "north/k5" }
        #expect(synced?.lastSyncAt != nil && synced?.protocolVersion == supportedProtocolVersions.max())
        // Both edits are HQ edits in dana's name, in the returns' history.
        for id in [work.inConflict, work.awaitingReview] {
            #expect(ReturnEdit.history(of: try after.returnRecord(id)).map(\.operatorID) == ["dana"])
        }
        for page in [
            "sign-in", "dashboard", "dashboard-live", "returns", "return", "conflicts", "review", "reports", "recalls",
            "kiosks", "orders", "photos", "policies", "users", "refused",
        ] {
            for width in ["laptop", "tablet"] {
                #expect(FileManager.default.fileExists(atPath: "\(ConsoleBrowser.screenshots)/\(page)-\(width).png"))
            }
        }
    }
}

/// With `--tls-cert`, the console is served over TLS with the sync port's certificate, and its cookies are
/// `Secure`: a client trusting the CA reads the sign-in page over https.
@Suite struct ConsoleTLSTests {
    @Test func theConsoleIsServedOverTLSWithSecureCookies() async throws {
        let directory = try TemporaryDirectory()
        let server = try CrashSafetyTests.Child(
            "returns-server",
            [
                "serve", "--db", "hq.sqlite", "--port", "0", "--console-port", "0", "--tls-cert",
                TLSTests.file("server.pem"), "--tls-key", try TLSTests.privateKey(in: directory),
            ],
            in: directory.path,
            keepsErrors: true
        )
        defer {
            server.kill()
            _ = server.finish()
        }
        let (_, console) = try await offThePool { (server.firstLine(), server.firstLine()) }
        try #require(console.hasPrefix("console on https://127.0.0.1:"), "\(console)")
        let url = String(console.dropFirst("console on ".count))
        // Python's TLS client, trusting only the test CA: a handshake with the wrong certificate would fail.
        let fetch = """
            import ssl, sys, urllib.request
            context = ssl.create_default_context(cafile=sys.argv[2])
            response = urllib.request.urlopen(sys.argv[1] + "login", context=context)
            print(response.status)
            for cookie in response.headers.get_all("Set-Cookie"):
                print(cookie)
            """
        let fetched = try await UsersCommandTests.execute(
            "/usr/bin/env",
            ["python3", "-c", fetch, url, TLSTests.file("ca.pem")],
            input: "",
            in: directory
        )
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let lines = fetched.stdout.split(separator: "\n")
        #expect(lines.first == "200", "\(fetched.stdout)")
        let cookie = lines.first { $0.hasPrefix("returnsync_sign_in=") } ?? ""
        #expect(
            cookie.contains("Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "\(cookie)"
        )
    }
}
