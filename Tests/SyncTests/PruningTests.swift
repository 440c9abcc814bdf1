import CommandLineSupport
import Foundation
import KioskCLI
import ReplicaStore
import ReturnSyncJSON
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncClient
import SyncEngine
import Testing
import WireProtocol

/// Issue 22, bounded storage: a kiosk lets go of closed and voided returns past its store's retention once HQ holds
/// them, and of order lines past their window; HQ keeps everything, an HQ edit brings a return back whole, and
/// nothing acknowledged or unacknowledged is lost.
@Suite struct PruningTests {
    static let day: TimeInterval = 86_400

    /// Syncs `kiosk` as one `kiosk sync` run does: a client of its own, which prunes after the sync (a long-lived
    /// client prunes at most hourly, ``SyncClient/pruneIfDue()``).
    static func sync(_ kiosk: TestKiosk) async throws -> SyncReport {
        try await SyncClient(store: kiosk.store).sync()
    }

    /// Inspects, routes and closes return `id` at `kiosk`.
    static func close(_ id: ReturnID, at kiosk: TestKiosk) throws {
        _ = try kiosk.store.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .used, testResult: .pass, by: author, at: date)
        }
        _ = try kiosk.store.updateReturn(id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.restock, by: author, at: date)
        }
        _ = try kiosk.store.updateReturn(id, operation: "close") { item, author, date in
            try item.close(by: author, at: date)
        }
    }

    @Test func aKioskLetsGoOfWhatHQHoldsPastTheRetentionAndGetsItBackWithHQsEdit() async throws {
        let server = try await TestServer()
        // The kiosk's clock runs 200 days behind until its first sync corrects it: what it does meanwhile is old.
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, clockOffset: -200 * Self.day)
        let closed = try kiosk.record(order: "O-1")
        try Self.close(closed.id, at: kiosk)
        let voided = try kiosk.record(order: "O-2")
        _ = try kiosk.store.updateReturn(voided.id, operation: "void") { item, author, date in
            try item.void(note: "captured twice", by: author, at: date)
        }
        let open = try kiosk.record(order: "O-3")

        // Old, but HQ does not hold them yet: nothing is prunable, pruning removes nothing.
        #expect(try kiosk.store.retentionState().prunableReturns == 0)
        #expect(try kiosk.store.prune().returns == 0)
        #expect(try kiosk.store.returnRecords().count == 3)

        let held = try [closed.id, voided.id].map { try kiosk.store.returnRecord($0) }
        let changesBefore = try kiosk.store.status().lastChangeSeq
        let report = try await PruningTests.sync(kiosk)
        #expect(report.pushed == 3)
        #expect(report.pruned?.returns == 2 && report.pruned?.retentionDays == 180)
        // Gone from the kiosk, whole at HQ; the open one stays.
        for (id, record) in zip([closed.id, voided.id], held) {
            #expect(throws: ReplicaStoreError.self) { try kiosk.store.returnRecord(id) }
            #expect(try server.store.returnRecord(id) == record)
        }
        #expect(try kiosk.store.returnRecords().map(\.id) == [open.id.rawValue])
        // The log's position never goes back: it is the kiosk's change count.
        #expect(try kiosk.store.status().lastChangeSeq >= changesBefore)
        let status = try kiosk.store.status()
        #expect(status.totalReturns == 1)
        #expect(status.retention?.retentionDays == 180 && status.retention?.setByHQ == false)
        #expect(status.retention?.prunableReturns == 0)
        #expect(Format.status(status).contains("closed and voided returns kept 180 days (the default"))

        // A return closed now is recent: kept.
        let recent = try kiosk.record(order: "O-4")
        try Self.close(recent.id, at: kiosk)
        let next = try await PruningTests.sync(kiosk)
        #expect(next.pushed == 1 && next.pulled == 0)
        #expect(next.pruned?.returns == 0)
        #expect(try kiosk.store.returnRecords().count == 2)

        // HQ adds a note to the pruned closed return: the feed brings it back, whole.
        _ = try server.store.updateReturn(closed.id, operation: "note") { item, author, date in
            try item.addNote("Vendor credit arrived", by: author, at: date)
        }
        let back = try await PruningTests.sync(kiosk)
        #expect(back.pulled == 1)
        #expect(try kiosk.store.returnRecord(closed.id) == server.store.returnRecord(closed.id))
        // Its last change is HQ's note, made today: it stays for another retention window.
        #expect(back.pruned?.returns == 0)
        #expect(try kiosk.store.retentionState().prunableReturns == 0)
        try await server.stop()
    }

    /// A photo's bytes live only on the kiosk until the server confirms them: a return whose photo a version-3
    /// server never took stays, however old.
    @Test func aReturnWhosePhotoHQDoesNotHoldYetStays() async throws {
        let server = try await TestServer(configure: { $0.protocolVersions = [3] })
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, clockOffset: -200 * Self.day)
        let item = try kiosk.record()
        try kiosk.store.attach(AttachmentSyncTests.photo(2_000, seed: 7), to: item.id)
        try Self.close(item.id, at: kiosk)
        let report = try await PruningTests.sync(kiosk)
        #expect(report.pushed == 1 && report.pruned?.returns == 0)
        #expect(try kiosk.store.returnRecord(item.id).id == item.id.rawValue)
        #expect(try kiosk.store.status().attachmentsUnsent == 1)
        #expect(try kiosk.store.retentionState().prunableReturns == 0)
        try await server.stop()
    }

    @Test func hqSetsAStoresRetentionAndTheKioskFollowsIt() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, clockOffset: -100 * Self.day)
        let item = try kiosk.record()
        try Self.close(item.id, at: kiosk)
        // 100 days old: within the default 180, kept.
        #expect(try await PruningTests.sync(kiosk).pruned?.returns == 0)
        _ = try server.store.write(.setStore(StoreID("store-1"), retentionDays: try StoreEntity.validatedRetention(90)))
        let report = try await PruningTests.sync(kiosk)
        #expect(report.pruned?.returns == 1 && report.pruned?.retentionDays == 90)
        let status = try kiosk.store.status()
        #expect(status.retention?.retentionDays == 90 && status.retention?.setByHQ == true)
        #expect(Format.status(status).contains("kept 90 days (set by HQ)"))
        // Another store's retention is not this kiosk's.
        _ = try server.store.write(.setStore(StoreID("store-2"), retentionDays: 7))
        _ = try await PruningTests.sync(kiosk)
        #expect(try kiosk.store.retentionState().retentionDays == 90)
        #expect(throws: ReturnsModelError.self) { try StoreEntity.validatedRetention(6) }
        #expect(throws: ReturnsModelError.self) { try StoreEntity.validatedRetention(3651) }
        try await server.stop()
    }

    @Test func orderLinesAgeOutWithTheirReturnWindow() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try server.store.setReturnPolicy(
            ReturnPolicy.validated(store: StoreID("store-1"), gtinPrefix: "", windowDays: 90, receiptRequired: false)
        )
        func line(_ order: String, soldDaysAgo days: Double) throws -> OrderLine {
            try OrderLine(
                orderID: OrderID(order),
                storeID: StoreID("store-1"),
                line: 1,
                gtin: GTIN("4006381333931"),
                quantity: 1,
                unitPriceCents: 1_999,
                soldAt: Date().addingTimeInterval(-days * Self.day)
            )
        }
        _ = try server.store.importOrders([try line("OLD", soldDaysAgo: 80), try line("NEW", soldDaysAgo: 2)])
        let first = try await PruningTests.sync(kiosk)
        #expect(first.pruned?.orderLines == 0)
        #expect(try kiosk.store.orderLines().count == 2)
        // HQ drops the 90-day policy: the default 30 days govern, and the line sold 80 days ago is past 30 + 30.
        try server.store.removeReturnPolicy(store: StoreID("store-1"), gtinPrefix: "")
        #expect(try await PruningTests.sync(kiosk).pruned?.orderLines == 1)
        #expect(try kiosk.store.orderLines().map(\.orderID.rawValue) == ["NEW"])
        #expect(try server.store.orderLines().count == 2)
        try await server.stop()
    }

    /// A long-lived client (the agent, an app) prunes after its first sync and then at most once an hour: an idle
    /// sync stays one round trip.
    @Test func aLongLivedClientPrunesAtMostHourly() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        #expect(try await kiosk.client.sync().pruned != nil)
        #expect(try await kiosk.client.sync().pruned == nil)
        #expect(try await PruningTests.sync(kiosk).pruned != nil, "a client of its own prunes")
        try await server.stop()
    }

    @Test func aServerPrunesNothing() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, clockOffset: -400 * Self.day)
        let item = try kiosk.record()
        try Self.close(item.id, at: kiosk)
        _ = try await PruningTests.sync(kiosk)
        #expect(try server.store.prune().isEmpty)
        #expect(try server.store.returnRecord(item.id).id == item.id.rawValue)
        #expect(try server.store.status().retention == nil)
        try await server.stop()
    }

    /// A return whose condition the kiosk and HQ set concurrently, settled at the kiosk and synced: HQ holds the
    /// settlement. Returns the kiosk, the return, and a handle on the kiosk's database 40 days later.
    static func settledConflict(
        _ server: TestServer,
        capturedBefore: Int = 0
    ) async throws -> (kiosk: TestKiosk, id: ReturnID, later: ReplicaStore) {
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        for index in 0..<capturedBefore { try kiosk.record(order: "O-before-\(index)") }
        let id = try kiosk.record(order: "O-1").id
        _ = try await kiosk.sync()
        _ = try kiosk.store.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .used, testResult: .pass, by: author, at: date)
        }
        _ = try server.store.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .damaged, testResult: .pass, by: author, at: date)
        }
        _ = try await kiosk.sync()
        #expect(try kiosk.store.returnRecord(id).isInConflict(ReturnEntity.Field.condition))
        _ = try kiosk.store.resolveConflict(id, field: ReturnEntity.Field.condition, value: "damaged")
        _ = try await kiosk.sync()
        let held = try server.store.returnRecord(id)
        #expect(held.conflictHistory.map(\.field) == [ReturnEntity.Field.condition])
        #expect(try kiosk.store.returnRecord(id) == held)
        let later = try ReplicaStore.open(
            at: kiosk.store.path,
            configuration: .init(now: { Date().addingTimeInterval(40 * Self.day) })
        )
        return (kiosk, id, later)
    }

    /// Issue 22: a kiosk drops the settled-conflict history HQ holds, 30 days after the record's last change; HQ
    /// keeps it, the kiosk shows and merges the same, and its next edit of the return syncs as any other.
    @Test func aKioskDropsTheSettledHistoryHQHoldsAndHQKeepsIt() async throws {
        let server = try await TestServer()
        let (kiosk, id, later) = try await Self.settledConflict(server)
        let before = try kiosk.store.returnRecord(id)
        // Not before the grace: the record changed today.
        #expect(try kiosk.store.prune().histories == 0)

        let pruned = try later.prune()
        #expect(pruned.histories == 1 && pruned.returns == 0)
        #expect(
            Format.pruned(pruned).hasSuffix("; dropped the settled-conflict history of 1 record (HQ keeps it)"),
            "\(Format.pruned(pruned))"
        )
        #expect(try later.prune().histories == 0, "each record is compacted once")
        let compacted = try kiosk.store.returnRecord(id)
        #expect(compacted.conflictHistory.isEmpty)
        #expect(compacted.holdsTheSameWrites(as: before))
        #expect(try ProductReturn(record: compacted) == ProductReturn(record: before))
        #expect(try server.store.returnRecord(id).conflictHistory == before.conflictHistory)
        // Nothing new to push, nothing changed in the log.
        #expect(try kiosk.store.status().unsyncedChanges == 0)

        // The next edit travels without the entries, and HQ keeps them.
        _ = try kiosk.store.updateReturn(id, operation: "note") { item, author, date in
            try item.addNote("checked again", by: author, at: date)
        }
        let report = try await kiosk.sync()
        #expect(report.pushed == 1 && report.conflicts.isEmpty)
        let atHQ = try server.store.returnRecord(id)
        #expect(atHQ.conflictHistory == before.conflictHistory)
        #expect(try ProductReturn(record: atHQ).notes.map(\.text) == ["checked again"])
        #expect(try kiosk.store.returnRecord(id).holdsTheSameWrites(as: atHQ))
        try await server.stop()
    }

    /// A pass reads a bounded part of the change log (20 positions a record it may compact): a kiosk upgraded with
    /// years of records catches up over several, each saying whether more is left.
    @Test func historyIsDroppedOverSeveralBoundedPasses() async throws {
        let server = try await TestServer()
        let (kiosk, id, later) = try await Self.settledConflict(server, capturedBefore: 50)
        var passes = 0
        var dropped = 0
        while true {
            let report = try later.prune(limit: 1)
            passes += 1
            dropped += report.histories
            if !report.historiesPending { break }
        }
        #expect(dropped == 1 && passes > 2, "\(passes) passes")
        #expect(try kiosk.store.returnRecord(id).conflictHistory.isEmpty)
        try await server.stop()
    }

    /// A record set aside is past the push checkpoint, yet HQ refused it: its history may exist nowhere else.
    @Test func aRecordSetAsideKeepsItsHistory() async throws {
        let server = try await TestServer()
        let (kiosk, id, later) = try await Self.settledConflict(server)
        try kiosk.store.quarantine(recordID: id.rawValue, code: "conflicting-write", message: "refused in a test")
        #expect(try later.prune().histories == 0)
        #expect(try kiosk.store.returnRecord(id).conflictHistory.count == 1)
        try await server.stop()
    }

    /// Both backends take a version whose history a kiosk dropped, and keep their entries.
    @Test(arguments: StorageBackend.all)
    func everyBackendKeepsTheHistoryAKioskDropped(backend: StorageBackend) async throws {
        let directory = try TemporaryDirectory()
        let kiosks = try ["a", "b"].map { name in
            try ReplicaStore.create(
                at: directory.file("\(name).sqlite"),
                identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID(name))
            )
        }
        let id = try kiosks[0].recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("4006381333931"), reason: .damaged)
        ).id
        let captured = try kiosks[0].returnRecord(id)
        try kiosks[1].merge(captured)
        for (kiosk, condition) in zip(kiosks, [ItemCondition.used, .damaged]) {
            _ = try kiosk.updateReturn(id, operation: "inspect") { item, author, date in
                try item.inspect(condition: condition, testResult: .pass, by: author, at: date)
            }
        }
        let other = try kiosks[1].returnRecord(id)
        try kiosks[0].merge(other)
        _ = try kiosks[0].resolveConflict(id, field: ReturnEntity.Field.condition, value: "damaged")
        let settled = try kiosks[0].returnRecord(id)
        #expect(settled.conflictHistory.count == 1)
        _ = try kiosks[0].updateReturn(id, operation: "note") { item, author, date in
            try item.addNote("checked again", by: author, at: date)
        }
        let noted = try kiosks[0].returnRecord(id).droppingHistory(coveredBy: settled.clock)
        #expect(noted.conflictHistory.isEmpty)
        try await backend.with { instance in
            let hq = try #require(instance.storage as? any ReturnAdministration)
            // Each kiosk's own writes reach HQ first, so the other may pass them on.
            let pushes = [(captured, "store-1/a"), (other, "store-1/b"), (settled, "store-1/a"), (noted, "store-1/a")]
            for (version, pusher) in pushes {
                _ = try await instance.storage.acceptPush([version], from: ReplicaID(pusher), store: StoreID("store-1"))
            }
            let held = try await hq.returnRecord(id)
            #expect(held.conflictHistory == settled.conflictHistory, "\(backend)")
            #expect(held.holdsTheSameWrites(as: noted), "\(backend)")
        }
    }

    /// A server before 0.6.0 would refuse a version lacking history it holds: a kiosk whose server did not grant
    /// `history-compaction` keeps every entry.
    @Test func aKioskWhoseServerDoesNotTakeCompactedHistoryKeepsIt() async throws {
        let server = try await TestServer(configure: { $0.capabilities = [SyncCapability.fetch] })
        let (kiosk, id, later) = try await Self.settledConflict(server)
        #expect(try kiosk.store.serverCapabilities() == [SyncCapability.fetch])
        #expect(try later.prune().histories == 0)
        #expect(try kiosk.store.returnRecord(id).conflictHistory.count == 1)
        try await server.stop()
    }
}

/// `kiosk fetch` (issue 22): a kiosk's store's returns come back from HQ by id, whole; nothing of another store;
/// the capability negotiated per connection, and an older server named as such.
@Suite struct FetchTests {
    @Test func aPrunedReturnIsFetchedBackWholeAndStaysThirtyDays() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, clockOffset: -200 * PruningTests.day)
        let item = try kiosk.record()
        try PruningTests.close(item.id, at: kiosk)
        #expect(try await PruningTests.sync(kiosk).pruned?.returns == 1)
        #expect(throws: ReplicaStoreError.self) { try kiosk.store.returnRecord(item.id) }

        let unknown = ReturnID.make()
        let report = try await kiosk.client.fetch([item.id, unknown, item.id])
        #expect(report.fetched == [item.id] && report.missing == [unknown.rawValue])
        #expect(try kiosk.store.returnRecord(item.id) == server.store.returnRecord(item.id))
        // Fetched, it stays: the next sync neither re-sends it nor prunes it.
        let next = try await PruningTests.sync(kiosk)
        #expect(next.pushed == 0 && next.pruned?.returns == 0)
        #expect(try kiosk.store.returnRecord(item.id).id == item.id.rawValue)

        // The command, as typed: a whole id fetched, a missing one an error naming it, exit 1.
        let db = kiosk.store.path
        let fetched = await runCaptured { await KioskCLI.run(arguments: ["fetch", item.id.rawValue, "--db", db]) }
        #expect(fetched.status == 0 && fetched.stdout.hasPrefix("fetched \(item.id): closed, defective"), "\(fetched)")
        let missing = await runCaptured {
            await KioskCLI.run(arguments: ["fetch", unknown.rawValue, "--json", "--db", db])
        }
        #expect(missing.status == 1 && missing.stderr.contains("HQ holds no return \(unknown) of this store"))
        #expect(missing.stdout.contains("\"missing\" : [\n    \"\(unknown)\""), "\(missing.stdout)")
        let short = await runCaptured { await KioskCLI.run(arguments: ["fetch", "0000aaaa", "--db", db]) }
        #expect(short.status == 1 && short.stderr.contains("'0000aaaa' is not a whole return id"), "\(short.stderr)")
        try await server.stop()
    }

    @Test func anotherStoresReturnIsAnsweredAsAnUnknownOne() async throws {
        let fleet = try await AdversaryTests.Fleet()
        var wire = fleet.wire
        wire.capabilities = [SyncCapability.fetch]
        let secret = fleet.otherStoresReturn.id.rawValue
        let unknown = ReturnID.make().rawValue
        let answers = try await RawClient.connect(to: fleet.server).converse { send, receive in
            let welcome = try await wire.authenticate(send, receive)
            #expect(welcome?["capabilities"] == .array([.string("fetch")]), "\(welcome?.serializedString ?? "")")
            var answers: [JSONValue?] = []
            for id in [secret, unknown] {
                try await send("{\"type\":\"fetch\",\"ids\":[\"\(id)\"]}\n")
                answers.append(try await receive())
            }
            try await send("{\"type\":\"bye\"}\n")
            return answers
        }
        #expect(answers[0]?["records"] == .array([]) && answers[0]?["missing"] == .array([.string(secret)]))
        #expect(answers[1]?["records"] == .array([]) && answers[1]?["missing"] == .array([.string(unknown)]))
        try await fleet.server.stop()
    }

    @Test(arguments: [
        (#"{"type":"fetch","ids":[]}"#, "limit-exceeded"),
        (
            "{\"type\":\"fetch\",\"ids\":["
                + Array(repeating: "\"\(ReturnID.make())\"", count: 101).joined(separator: ",")
                + "]}", "limit-exceeded"
        ),
        (#"{"type":"fetch","ids":["019E7044-8800-75CE-A084-F23ABBB00558"]}"#, "malformed-frame"),
        (#"{"type":"fetch","ids":[7]}"#, "malformed-frame"),
    ])
    func badFetchesAreRefusedNamingWhatIsWrong(frame: String, code: String) async throws {
        let fleet = try await AdversaryTests.Fleet()
        var wire = fleet.wire
        wire.capabilities = [SyncCapability.fetch]
        let answer = try await RawClient.connect(to: fleet.server).converse { send, receive in
            _ = try await wire.authenticate(send, receive)
            try await send(frame + "\n")
            return try await receive()
        }
        #expect(
            answer?["type"] == .string("error") && answer?["code"] == .string(code),
            "\(answer?.serializedString ?? "")"
        )
        try await fleet.server.stop()
    }

    @Test func aFetchTheConnectionDidNotNegotiateIsRefused() async throws {
        let fleet = try await AdversaryTests.Fleet()
        let id = try #require(try fleet.attacker.store.returnRecords().first).id
        let answer = try await RawClient.connect(to: fleet.server).converse { send, receive in
            let welcome = try await fleet.wire.authenticate(send, receive)
            // A kiosk that asked for nothing gets the welcome it always got.
            #expect(welcome?["capabilities"] == nil, "\(welcome?.serializedString ?? "")")
            try await send("{\"type\":\"fetch\",\"ids\":[\"\(id)\"]}\n")
            return try await receive()
        }
        #expect(answer?["code"] == .string("unexpected-message"))
        #expect(answer?["message"]?.stringValue?.contains("capability 'fetch'") == true)
        try await fleet.server.stop()
    }

    @Test func anOlderServerIsNamedAsSuch() async throws {
        let server = try await TestServer(configure: { $0.capabilities = [] })
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        _ = try await PruningTests.sync(kiosk)
        await #expect {
            try await kiosk.client.fetch([ReturnID.make()])
        } throws: { error in
            "\(error)".contains("a release before 0.5.0): upgrade it")
        }
        try await server.stop()
    }
}
