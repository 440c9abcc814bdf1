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

    /// `count` returns of store `north`, each routed at two desks at once (disposed of at `k1`, recycled at `k2`: a
    /// conflict on `disposition`); the first also inspected differently at both (a conflict on its condition too).
    /// Push `k1`'s versions before `k2`'s: `k2` passes on writes of `k1` the server must hold first.
    static func conflicting(_ count: Int) throws -> (k1: [VersionedRecord], k2: [VersionedRecord], ids: [ReturnID]) {
        let (k1, k2) = (try ReplicaID("north/k1"), try ReplicaID("north/k2"))
        var clock = Date().millisecondsSince1970 - 600_000
        func stamp() throws -> HLCTimestamp {
            clock += 1
            return try HLCTimestamp(physical: UInt64(clock))
        }
        var (first, second, ids): ([VersionedRecord], [VersionedRecord], [ReturnID]) = ([], [], [])
        for index in 0..<count {
            let item = try ProductReturn(
                id: ReturnID.make(milliseconds: UInt64(clock), sequence: UInt32(index)),
                storeID: StoreID("north"),
                kioskID: KioskID("k1"),
                orderID: OrderID("ORD-\(index)"),
                gtin: GTIN("4006381333931"),
                reason: .defective,
                verification: .unverified,
                createdAt: Date(millisecondsSince1970: clock)
            )
            var base = try ReturnEntity.makeRecord(for: item, by: k1, stamp: try stamp())
            func inspect(_ record: inout VersionedRecord, by replica: ReplicaID, _ condition: ItemCondition) throws {
                try record.updateReturn(by: replica, stamp: try stamp()) {
                    try $0.inspect(condition: condition, testResult: .fail, by: $1, at: $2)
                }
            }
            if index > 0 { try inspect(&base, by: k1, .defective) }
            var (atK1, atK2) = (base, base)
            if index == 0 {
                try inspect(&atK1, by: k1, .defective)
                try inspect(&atK2, by: k2, .used)
            }
            try atK1.updateReturn(by: k1, stamp: try stamp()) { try $0.assignDisposition(.dispose, by: $1, at: $2) }
            try atK2.updateReturn(by: k2, stamp: try stamp()) { try $0.assignDisposition(.recycle, by: $1, at: $2) }
            first.append(atK1)
            second.append(atK2)
            ids.append(item.id)
        }
        return (first, second, ids)
    }

    /// The conflicts page reads the open conflicts from the returns in conflict, never the whole audit, and shows
    /// exactly those; the downloads hold every conflict, open and settled, read a page at a time, each once.
    @Test(arguments: StorageBackend.all)
    func theConflictsPageShowsTheOpenOnesAndTheDownloadsEveryOneOnEveryBackend(backend: StorageBackend) async throws {
        try await backend.with { instance in
            let storage = try #require(instance.storage as? any ServerStorage)
            try await Self.addManager(to: storage)
            // One more than a download's page: the last conflict is on a page of its own.
            let work = try Self.conflicting(HQConsole.downloadPage + 1)
            _ = try await storage.acceptPush(work.k1, from: ReplicaID("north/k1"), store: StoreID("north"))
            _ = try await storage.acceptPush(work.k2, from: ReplicaID("north/k2"), store: StoreID("north"))
            // Settled: the first return's disposition (its condition stays open) and the third return's only one.
            for index in [0, 2] {
                _ = try await storage.resolveConflict(
                    work.ids[index],
                    field: "disposition",
                    value: "recycle",
                    operatorID: nil
                )
            }
            let audit = try await storage.conflictAudit()
            #expect(audit.count == work.ids.count + 1, "\(backend): \(audit.count)")
            let open = audit.filter { $0.isOpen && $0.entityType == ReturnEntity.entityType }
            #expect(open.count == work.ids.count - 1, "\(backend)")
            #expect(!open.contains { $0.recordID == work.ids[2].rawValue }, "\(backend)")
            #expect(open.filter { $0.recordID == work.ids[0].rawValue }.map(\.field) == ["condition"], "\(backend)")
            // The storage: the open ones alone, as the whole audit says; the audit page by page, every entry once.
            #expect(try await storage.openReturnConflicts() == open, "\(backend)")
            var paged: [ConflictAuditEntry] = []
            while true {
                let page = try await storage.conflictAudit(after: paged.last?.id ?? 0, limit: 7)
                if page.isEmpty { break }
                #expect(page.count <= 7)
                paged += page
            }
            #expect(paged == audit, "\(backend)")
            let app = Application(router: HQConsole(storage: storage).router())
            try await app.test(.router) { client in
                let cookie: HTTPFields = [.cookie: "returnsync_session=\(try await Self.signIn(client))"]
                try await client.execute(uri: "/conflicts", method: .get, headers: cookie) { response in
                    let body = String(buffer: response.body)
                    #expect(body.contains("<p>\(open.count) open. The newest 200 are shown"), "\(backend)")
                    #expect(body.components(separatedBy: "<article class=\"open-conflict\">").count == 201)
                    // The newest first: the last return's conflict is shown, the third's (settled) nowhere.
                    #expect(body.contains("Return \(work.ids.last!.rawValue)</a>"), "\(backend)")
                    #expect(!body.contains(work.ids[2].rawValue), "\(backend)")
                }
                let csv = try await client.execute(uri: "/conflicts.csv", method: .get, headers: cookie) {
                    String(buffer: $0.body)
                }
                let lines = csv.split(separator: "\r\n")
                #expect(lines.first == "record,field,values,shown,detectedAt,detectedBy,state", "\(backend)")
                let rows = lines.dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
                #expect(
                    rows.map { "\($0[0])/\($0[1])/\($0.last!)" }
                        == audit.map {
                            "\($0.recordID)/\($0.field)/\($0.isOpen ? "open" : "settled")"
                        },
                    "\(backend)"
                )
                try await client.execute(uri: "/conflicts.json", method: .get, headers: cookie) { response in
                    let objects =
                        try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [[String: Any]]
                    #expect(objects?.map { $0["id"] as? Int64 } == audit.map(\.id), "\(backend)")
                    #expect(objects?.map { $0["open"] as? Bool } == audit.map(\.isOpen), "\(backend)")
                    #expect(objects?.first?["recordId"] as? String == work.ids[0].rawValue, "\(backend)")
                }
            }
        }
    }
}
