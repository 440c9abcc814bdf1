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
import Testing

/// The console's pages and actions on every backend, through the same storage layer: PostgreSQL serves the console
/// as SQLite does.
@Suite struct ConsoleBackendTests {
    static let password = "correct horse battery staple"

    /// Adds `rick`, a returns manager.
    static func addManager(to storage: any ServerStorage) async throws {
        let at = Date()
        try await storage.addHQUser(
            HQUser(
                name: try HQUserName("rick"),
                role: .returnsManager,
                passwordHash: try PasswordHasher(cost: 4).hash(Self.password),
                createdAt: at,
                passwordChangedAt: at
            ),
            by: "test"
        )
    }

    /// Signs `rick` in as a browser does; returns the session's secret.
    static func signIn(_ client: some TestClientProtocol) async throws -> String {
        let nonce = try await client.execute(uri: "/login", method: .get) { response in
            let line = response.headers[values: .setCookie].first { $0.hasPrefix("returnsync_sign_in=") } ?? ""
            return String(line.prefix { $0 != ";" }.dropFirst("returnsync_sign_in=".count))
        }
        return try await client.execute(
            uri: "/login",
            method: .post,
            headers: [.contentType: "application/x-www-form-urlencoded", .cookie: "returnsync_sign_in=\(nonce)"],
            body: Self.form([("csrf", nonce), ("name", "rick"), ("password", Self.password)])
        ) { response in
            let line = response.headers[values: .setCookie].first { $0.hasPrefix("returnsync_session=") } ?? ""
            return String(line.prefix { $0 != ";" }.dropFirst("returnsync_session=".count))
        }
    }

    /// The form fields as a browser posts them.
    static func form(_ fields: [(String, String)]) -> ByteBuffer {
        ByteBuffer(
            string: fields.map { "\($0)=\($1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
                .joined(separator: "&")
        )
    }

    @Test(arguments: StorageBackend.all)
    func aManagerSettlesAndApprovesAndTheDashboardCountsOnEveryBackend(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let storage = try #require(instance.storage as? any ServerStorage)
            try await Self.addManager(to: storage)
            let directory = try TemporaryDirectory()
            let work = try await DeskWork.push(
                importOrders: { _ = try await storage.importOrders($0) },
                accept: { _ = try await storage.acceptPush($0, from: $1, store: $2) },
                in: directory
            )
            let app = Application(router: HQConsole(storage: storage).router())
            try await app.test(.router) { client in
                let session = try await Self.signIn(client)
                let csrf = try #require(SessionToken(secret: session)).csrfToken
                let cookie: HTTPFields = [.cookie: "returnsync_session=\(session)"]
                var posting = cookie
                posting[.contentType] = "application/x-www-form-urlencoded"
                try await client.execute(uri: "/", method: .get, headers: cookie) { response in
                    let body = String(buffer: response.body)
                    #expect(body.contains("aria-label=\"Returns by store: north: 2\""), "\(backend): \(body)")
                }
                try await client.execute(uri: "/conflicts", method: .get, headers: cookie) { response in
                    #expect(String(buffer: response.body).contains(">Keep recycle</button>"), "\(backend)")
                }
                try await client.execute(
                    uri: "/returns/\(work.inConflict.rawValue)/settle",
                    method: .post,
                    headers: posting,
                    body: Self.form([("csrf", csrf), ("field", "disposition"), ("value", "recycle")])
                ) { #expect($0.status == .seeOther, "\(backend)") }
                try await client.execute(
                    uri: "/review",
                    method: .post,
                    headers: posting,
                    body: Self.form([("csrf", csrf), ("ids[]", work.awaitingReview.rawValue), ("decision", "approve")])
                ) { #expect($0.status == .seeOther, "\(backend)") }
                try await client.execute(uri: "/returns?store=north", method: .get, headers: cookie) { response in
                    #expect(String(buffer: response.body).contains("2 returns match."), "\(backend)")
                }
            }
            let settled = try await storage.returnRecord(work.inConflict)
            #expect(try ProductReturn(record: settled).disposition == .recycle, "\(backend)")
            #expect(ReturnEdit.history(of: settled).map(\.operatorID) == ["rick"], "\(backend)")
            let approved = try ProductReturn(record: try await storage.returnRecord(work.awaitingReview))
            #expect(approved.review?.outcome == .approved && !approved.awaitsReview, "\(backend)")
            let audit = try await storage.hqAudit(limit: 2).map(\.action)
            #expect(audit == ["conflict-settled", "review-approved"], "\(backend)")
        }
    }

    /// HQ may hold millions of order lines: the orders page reads its first lines and a count, not every line.
    @Test(arguments: StorageBackend.all)
    func theOrdersPageShowsItsFirstLinesAndCountsThemAllOnEveryBackend(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let storage = try #require(instance.storage as? any ServerStorage)
            try await Self.addManager(to: storage)
            // 203 lines imported last first: the page lists the first 200 by order and line.
            func order(_ index: Int) -> String { "ORD-" + String(1_000 + index).dropFirst() }
            _ = try await storage.importOrders(
                try (0..<203).reversed().map { index in
                    try OrderLine(
                        orderID: OrderID(order(index)),
                        storeID: StoreID("north"),
                        line: 1,
                        gtin: GTIN("4006381333931"),
                        quantity: 1,
                        unitPriceCents: 1_999,
                        soldAt: Date()
                    )
                }
            )
            let page = try await storage.orderLines(first: 200)
            #expect(page.total == 203, "\(backend)")
            #expect(page.lines.map(\.orderID.rawValue) == (0..<200).map(order), "\(backend)")
            let app = Application(router: HQConsole(storage: storage).router())
            try await app.test(.router) { client in
                let session = try await Self.signIn(client)
                try await client.execute(
                    uri: "/orders",
                    method: .get,
                    headers: [.cookie: "returnsync_session=\(session)"]
                ) { response in
                    let body = String(buffer: response.body)
                    #expect(body.contains("The first 200 of 203 lines."), "\(backend): \(body)")
                    #expect(body.components(separatedBy: "<tr><td>").count - 1 == 200, "\(backend)")
                    #expect(body.contains("<td>ORD-199</td>") && !body.contains("ORD-200"), "\(backend)")
                }
            }
        }
    }

    /// Every order line downloads, however many, on every backend: read a page at a time by order, line and store,
    /// each once — an order whose lines straddle two pages, an order id holding a quote — and the CSV imports again
    /// unchanged.
    @Test(arguments: StorageBackend.all)
    func everyOrderLineDownloadsPageByPageOnEveryBackend(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let storage = try #require(instance.storage as? any ServerStorage)
            try await Self.addManager(to: storage)
            // Three lines an order: line 1 of the 334th order ends the first page, its lines 2 and 3 start the next.
            let count = HQConsole.downloadPage + 5
            func order(_ index: Int) -> String { "O'" + String(1_000 + index / 3).dropFirst() }
            let lines = try (0..<count).reversed().map { index in
                try OrderLine(
                    orderID: OrderID(order(index)),
                    storeID: StoreID(index % 2 == 0 ? "north" : "south"),
                    line: index % 3 + 1,
                    gtin: GTIN("4006381333931"),
                    quantity: 1,
                    unitPriceCents: 1_999,
                    soldAt: Date(millisecondsSince1970: 1_796_000_000_000)
                )
            }
            _ = try await storage.importOrders(lines)
            let expected = (0..<count).map { "\(order($0))/\($0 % 3 + 1)" }
            // The storage's pages alone, seven lines each.
            var paged: [OrderLine] = []
            while true {
                let page = try await storage.orderLines(after: paged.last, limit: 7)
                if page.isEmpty { break }
                paged += page
            }
            #expect(paged.map { "\($0.orderID.rawValue)/\($0.line)" } == expected, "\(backend)")
            let app = Application(router: HQConsole(storage: storage).router())
            try await app.test(.router) { client in
                let cookie: HTTPFields = [.cookie: "returnsync_session=\(try await Self.signIn(client))"]
                let csv = try await client.execute(uri: "/orders.csv", method: .get, headers: cookie) {
                    String(buffer: $0.body)
                }
                let rows = csv.split(separator: "\r\n").dropFirst().map { $0.split(separator: ",") }
                #expect(rows.map { "\($0[0])/\($0[2])" } == expected, "\(backend)")
                try await client.execute(uri: "/orders.json", method: .get, headers: cookie) { response in
                    let objects =
                        try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                    #expect(objects?.map { "\($0["orderId"] ?? "")/\($0["line"] ?? "")" } == expected, "\(backend)")
                }
                let again = try await storage.importOrders(csv: csv, defaultCurrency: nil)
                #expect(again.lines == count && again.outcome.unchanged == count, "\(backend)")
            }
        }
    }
}
