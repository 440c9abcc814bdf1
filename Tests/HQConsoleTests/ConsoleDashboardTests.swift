import Foundation
import HQAccess
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import Synchronization
import Testing

@testable import HQConsole

/// The dashboard: figures and charts in the page, live through server-sent events, and a live page's own refreshes
/// never keeping an unattended session signed in.
@Suite struct ConsoleDashboardTests {
    @Test func theDashboardShowsFiguresAndChartsAndLoadsOnlyItsOwnScript() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try HQConsoleTests.console(in: directory)
        _ = try HQConsoleTests.pushReturns(into: storage, in: directory)
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/events", method: .get) { response in
                #expect(response.status == .seeOther, "no stream without a session")
            }
            let session = try await HQConsoleTests.signIn(client)
            try await client.execute(uri: "/", method: .get, headers: [.cookie: "returnsync_session=\(session)"]) {
                let body = String(buffer: $0.body)
                #expect(body.contains("aria-label=\"Returns by store: north: 1, south: 1\""), "\(body)")
                #expect(body.contains("aria-label=\"Returns by reason: damaged: 2\""))
                #expect(
                    body.contains("<script src=\"/console.js\" defer></script>")
                        && body.contains("data-live=\"/events\"")
                )
                let csp = $0.headers[HTTPField.Name("Content-Security-Policy")!] ?? ""
                #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "\(csp)")
            }
            try await client.execute(uri: "/console.js", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType]?.hasPrefix("text/javascript") == true)
                #expect(String(buffer: response.body).contains("new EventSource"))
            }
        }
    }

    /// Every report of `returns-server report`, with its totals and note; its CSV and JSON as the command line
    /// writes them; a report that does not exist named.
    @Test func everyReportIsOnThePageAndInTheDownloads() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try HQConsoleTests.console(in: directory)
        _ = try HQConsoleTests.pushReturns(into: storage, in: directory)
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            let session = try await HQConsoleTests.signIn(client)
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(session)"]
            try await client.execute(uri: "/reports?by=reason", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .ok && body.contains("<td>damaged</td><td>2</td>"), "\(body)")
                #expect(body.contains("<td>total</td>") && body.contains("counted apart, in no total"))
            }
            for kind in ["store", "status", "disposition", "gtin", "recall", "repair", "ageing", "summary"] {
                try await client.execute(uri: "/reports?by=\(kind)", method: .get, headers: cookie) {
                    #expect($0.status == .ok, "\(kind)")
                }
            }
            try await client.execute(uri: "/reports?by=%3Cweather%3E", method: .get, headers: cookie) { response in
                let body = String(buffer: response.body)
                #expect(response.status == .badRequest && body.contains("no report &#39;&lt;weather&gt;&#39;"))
            }
            try await client.execute(uri: "/reports?by=recall&money=yes", method: .get, headers: cookie) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/reports.csv?by=store", method: .get, headers: cookie) { response in
                let lines = String(buffer: response.body).split(separator: "\n")
                #expect(lines.first?.hasPrefix("store,returns,units") == true && lines.count == 4, "\(lines)")
            }
            try await client.execute(uri: "/reports.json?by=store&money=yes", method: .get, headers: cookie) {
                let rows = try JSONSerialization.jsonObject(with: Data(buffer: $0.body)) as? [[String: Any]]
                #expect(rows != nil, "\(String(buffer: $0.body))")
            }
        }
    }

    /// The EPCIS export as a download: the document `export epcis` writes, streamed; a bad time named.
    @Test func theEPCISExportDownloads() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try HQConsoleTests.console(in: directory)
        _ = try HQConsoleTests.pushReturns(into: storage, in: directory)
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/export/epcis", method: .get) { #expect($0.status == .seeOther) }
            let session = try await HQConsoleTests.signIn(client)
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(session)"]
            let whole = try await client.execute(uri: "/export/epcis", method: .get, headers: cookie) { response in
                #expect(response.headers[.contentDisposition]?.hasPrefix("attachment;") == true)
                return Data(buffer: response.body)
            }
            let document = try #require(try JSONSerialization.jsonObject(with: whole) as? [String: Any])
            let events = (document["epcisBody"] as? [String: Any])?["eventList"] as? [[String: Any]]
            #expect(document["type"] as? String == "EPCISDocument" && events?.count == 2, "\(document)")
            let south = try await client.execute(uri: "/export/epcis?store=south", method: .get, headers: cookie) {
                try JSONSerialization.jsonObject(with: Data(buffer: $0.body)) as? [String: Any]
            }
            #expect(((south?["epcisBody"] as? [String: Any])?["eventList"] as? [Any])?.count == 1)
            try await client.execute(uri: "/export/epcis?since=yesterday", method: .get, headers: cookie) { response in
                #expect(response.status == .badRequest && String(buffer: response.body).contains("'yesterday'"))
            }
        }
    }

    /// A return's photo: listed as waiting until its kiosk sent its bytes, then shown on the return's page and
    /// served with its type; a digest that is not one is not looked up.
    @Test func aPhotoIsListedThenShownOnceItsBytesArrive() async throws {
        let directory = try TemporaryDirectory()
        let (console, storage) = try HQConsoleTests.console(in: directory)
        let kiosk = try ReplicaStore.create(
            at: directory.file("k.sqlite"),
            identity: .kiosk(store: StoreID("north"), kiosk: KioskID("k1"))
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        )
        // The first bytes of a PNG are enough for its type.
        let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(repeating: 7, count: 100)
        let attachment = try kiosk.attach(png, to: item.id, caption: "<b>dent</b>")
        _ = try storage.store.acceptPush(
            try kiosk.returnRecords(),
            from: kiosk.identity.replicaID,
            store: StoreID("north")
        )
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            let session = try await HQConsoleTests.signIn(client)
            let cookie: HTTPFields = [.cookie: "returnsync_session=\(session)"]
            try await client.execute(uri: "/attachments?missing=yes", method: .get, headers: cookie) {
                let body = String(buffer: $0.body)
                #expect(body.contains("1 not yet held whole") && body.contains("waiting for the kiosk"), "\(body)")
            }
            try await client.execute(uri: "/attachments/\(attachment.digest)", method: .get, headers: cookie) {
                #expect($0.status == .notFound)
            }
            _ = try storage.store.appendAttachmentChunk(
                attachment.digest,
                store: StoreID("north"),
                offset: 0,
                bytes: png
            )
            try await client.execute(uri: "/attachments/\(attachment.digest)", method: .get, headers: cookie) {
                #expect($0.status == .ok && $0.headers[.contentType] == "image/png" && Data(buffer: $0.body) == png)
            }
            try await client.execute(uri: "/returns/\(item.id.rawValue)", method: .get, headers: cookie) {
                let body = String(buffer: $0.body)
                #expect(
                    body.contains("<img src=\"/attachments/\(attachment.digest)\" alt=\"&lt;b&gt;dent&lt;/b&gt;\">"),
                    "\(body)"
                )
            }
            try await client.execute(uri: "/attachments/..%2F..%2Fetc", method: .get, headers: cookie) {
                #expect($0.status == .notFound)
            }
        }
    }

    /// Written into HQ while the stream runs: the stream says so, naming HQ's latest change.
    @Test func theEventStreamSaysWhenHQsDataChanged() async throws {
        let directory = try TemporaryDirectory()
        var (console, storage) = try HQConsoleTests.console(in: directory)
        console.liveEvents.poll = .milliseconds(10)
        struct Seen: Error {}
        let written = Mutex<[String]>([])
        await #expect(throws: Seen.self) {
            try await console.streamChanges(until: { false }) { text in
                let count = written.withLock {
                    $0.append(text)
                    return $0.count
                }
                if count == 1 {
                    // The stream is open: a kiosk's push lands now.
                    _ = try HQConsoleTests.pushReturns(into: storage, in: directory)
                } else if text.hasPrefix("event: change") {
                    throw Seen()
                }
            }
        }
        let latest = try await storage.lastChangeSeq()
        #expect(written.withLock { $0.first?.hasPrefix("retry: 3000") == true })
        #expect(written.withLock { $0.last } == "event: change\ndata: \(latest)\n\n")
    }

    /// A stream whose session ended stops at its next heartbeat.
    @Test func theEventStreamEndsWhenTheSessionDoes() async throws {
        let directory = try TemporaryDirectory()
        var (console, _) = try HQConsoleTests.console(in: directory)
        console.liveEvents.poll = .milliseconds(5)
        console.liveEvents.heartbeat = .milliseconds(20)
        let asked = Mutex(0)
        try await console.streamChanges(until: {
            asked.withLock {
                $0 += 1
                return $0 == 3
            }
        }) { _ in }
        #expect(asked.withLock { $0 } == 3, "ended at the heartbeat that found the session over, not before")
    }

    /// The dashboard's own refreshes (`X-Console-Refresh`) do not restart the idle timer: an unattended live
    /// dashboard signs out after 30 idle minutes like any page; a person's request does restart it.
    @Test func aLivePagesRefreshesDoNotKeepItsSessionAlive() async throws {
        let directory = try TemporaryDirectory()
        let (_, storage) = try HQConsoleTests.console(in: directory)
        let now = Mutex(Date())
        let authentication = HQConsoleAuthentication(storage: storage, now: { now.withLock { $0 } })
        var console = HQConsole(storage: storage, authentication: authentication)
        // Streams that end at once: the browser's reconnections, every one of them.
        console.liveEvents.lifetime = .zero
        let app = Application(router: console.router())
        try await app.test(.router) { client in
            // The event stream, reopened by the browser while nobody looks: not the person's use either.
            let watched = try await HQConsoleTests.signIn(client)
            now.withLock { $0 += 20 * 60 }
            try await client.execute(uri: "/events", method: .get, headers: [.cookie: "returnsync_session=\(watched)"])
            {
                #expect($0.status == .ok && String(buffer: $0.body).hasPrefix("retry: 3000"))
            }
            now.withLock { $0 += 20 * 60 }
            try await client.execute(uri: "/", method: .get, headers: [.cookie: "returnsync_session=\(watched)"]) {
                #expect($0.status == .seeOther, "40 idle minutes, whatever the stream did")
            }
            for refreshing in [false, true] {
                let session = try await HQConsoleTests.signIn(client)
                var headers: HTTPFields = [.cookie: "returnsync_session=\(session)"]
                if refreshing { headers[HTTPField.Name("X-Console-Refresh")!] = "1" }
                now.withLock { $0 += 20 * 60 }
                try await client.execute(uri: "/", method: .get, headers: headers) { #expect($0.status == .ok) }
                now.withLock { $0 += 20 * 60 }
                try await client.execute(uri: "/", method: .get, headers: headers) { response in
                    // 40 minutes since sign-in, 20 since the last request.
                    #expect(response.status == (refreshing ? .seeOther : .ok), "refreshing: \(refreshing)")
                }
            }
        }
    }
}
