import Foundation
import ReplicaStore
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncClient
import SyncCore
import SyncEngine
import Testing
import WireProtocol

@Suite struct EndToEndSyncTests {
    @Test func kiosksOfOneStoreConvergeAndAnotherStoreSeesNone() async throws {
        let server = try await TestServer()
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let other = try TestKiosk(store: "store-2", kiosk: "x", server: server)

        // Offline captures at every kiosk.
        for index in 0..<3 { try a.record(order: "A-\(index)") }
        for index in 0..<2 { try b.record(order: "B-\(index)") }
        try other.record(order: "X-1")

        // Sync in an order where b pushes before it can have seen a's returns.
        let firstB = try await b.sync()
        #expect(firstB.pushed == 2 && firstB.pulled == 0)
        let firstA = try await a.sync()
        #expect(firstA.pushed == 3 && firstA.pulled == 2)
        try await other.sync()
        let secondB = try await b.sync()
        #expect(secondB.pulled == 3)

        #expect(try a.records == b.records)
        #expect(try a.records.count == 5)
        #expect(try other.records.count == 1)
        #expect(try server.store.returnRecords().count == 6)

        // A sync with nothing to do pushes and pulls nothing.
        let idle = try await a.sync()
        #expect(idle.pushed == 0 && idle.pulled == 0 && idle.conflicts.isEmpty)
        // And its pull carries no record: hello, challenge, authenticate, welcome, an empty pull, bye.
        // (The challenge carries the server's key and signature: about 200 bytes.)
        #expect(idle.bytesSent < 500 && idle.bytesReceived < 600, "\(idle)")

        // The feed leaves out what a kiosk pushed and holds, and its last cursor passes everything.
        let store1 = try StoreID("store-1")
        let forA = try server.store.feed(store: store1, after: 0, limit: 500, requester: ReplicaID("store-1/a"))
        let forB = try server.store.feed(store: store1, after: 0, limit: 500, requester: ReplicaID("store-1/b"))
        #expect(forA.records.count == 2 && forB.records.count == 3 && !forA.more)
        #expect(forA.next == (try server.store.lastChangeSeq()))
        // A's returns, as b receives them, are exactly what a pushed.
        #expect(
            Set(forB.records.map(\.id))
                == Set(try a.store.returnRecords().map(\.id)).subtracting(forA.records.map(\.id))
        )
        try await server.stop()
    }

    @Test func anHQEditReachesTheKioskAndAConcurrentEditIsTheSameConflictEverywhere() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let item = try kiosk.record()
        try kiosk.store.updateReturn(item.id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .defective, testResult: .fail, by: author, at: date)
        }
        try await kiosk.sync()

        // HQ routes the return; the kiosk, before syncing, routes it differently.
        try server.store.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.recycle, by: author, at: date)
        }
        try kiosk.store.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.repair, by: author, at: date)
        }
        let report = try await kiosk.sync()
        #expect(report.conflicts.map(\.field).contains("disposition"))

        let atKiosk = try kiosk.store.returnRecord(item.id)
        let atServer = try server.store.returnRecord(item.id)
        #expect(atKiosk == atServer)
        #expect(try ProductReturn(record: atKiosk).disposition == .recycle)  // safety first, everywhere
        #expect(atKiosk.openConflicts(policy: ReturnEntity.policy).map(\.field) == ["disposition"])
        #expect(try server.store.conflictAudit().map(\.field) == ["disposition"])
        #expect(try kiosk.store.conflictAudit().isEmpty == false)

        // HQ settles it; the kiosk receives the resolution and the history.
        try server.store.updateReturn(item.id, operation: "disposition") { item, author, date in
            try item.assignDisposition(.returnToVendor, by: author, at: date)
        }
        try await kiosk.sync()
        let resolved = try kiosk.store.returnRecord(item.id)
        #expect(try ProductReturn(record: resolved).disposition == .returnToVendor)
        #expect(resolved.openConflicts(policy: ReturnEntity.policy).isEmpty)
        #expect(resolved.conflictHistory.count == 1)
        try await server.stop()
    }

    @Test func enrollmentTokensAreOneTimeAndBadCredentialsAreRefusedLeavingDataUntouched() async throws {
        let server = try await TestServer()
        let token = try server.enroll(store: "store-1", kiosk: "a")
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server, token: token)
        try kiosk.record()
        try await kiosk.sync()
        #expect(try server.store.enrolledKiosks().map(\.replicaID) == ["store-1/a"])

        // The same token again, from another database claiming the same kiosk (with a key of its own): refused.
        let impostor = try TestKiosk(store: "store-1", kiosk: "a", server: server, token: token)
        try impostor.record()
        let before = try impostor.records
        await #expect {
            try await impostor.sync()
        } throws: { error in
            (error as? SyncError)?.serverError?.code == .enrollmentRefused
        }
        #expect(try impostor.records == before)

        // A token the server never issued (for this server's key): refused.
        let unknown = EnrollmentToken.make(
            serverKeyFingerprint: try EnrollmentToken.serverKeyFingerprint(of: server.store)
        )
        let stranger = try TestKiosk(store: "store-1", kiosk: "c", server: server, token: unknown.description)
        await #expect {
            try await stranger.sync()
        } throws: { error in
            (error as? SyncError)?.serverError?.code == .enrollmentRefused
        }
        // A token issued for another kiosk: refused.
        let wrongKiosk = try TestKiosk(
            store: "store-1",
            kiosk: "d",
            server: server,
            token: try server.enroll(store: "store-1", kiosk: "e")
        )
        await #expect {
            try await wrongKiosk.sync()
        } throws: { error in
            (error as? SyncError)?.serverError?.code == .enrollmentRefused
        }
        #expect(try server.store.returnRecords().count == 1)
        try await server.stop()
    }

    /// A first sync cut (a crash, a power cut) after the server enrolled the kiosk and before the kiosk stored it:
    /// the token is spent, but the kiosk's key is the one the server holds, so its next sync goes through and the
    /// kiosk notes itself enrolled.
    @Test func aFirstSyncCutBeforeTheKioskStoredItsEnrollmentDoesNotLockItOut() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let unenrolled = try #require(try kiosk.store.syncCredentials())
        try await kiosk.sync()
        #expect(try kiosk.store.syncCredentials()?.enrolledAt != nil)
        // What the cut leaves: the server holds the key, the kiosk still its token and no enrollment.
        try kiosk.store.saveSyncCredentials(unenrolled)
        try kiosk.record()
        #expect(try await kiosk.sync().pushed == 1)
        let stored = try #require(try kiosk.store.syncCredentials())
        #expect(stored.enrolledAt != nil && stored.token == nil, "the spent token is dropped")
        #expect(try server.store.returnRecords().count == 1)
        try await server.stop()
    }

    @Test func anotherKiosksExportImportedHereSyncsBeforeThatKioskDoes() async throws {
        let server = try await TestServer()
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        try await a.sync()  // enrolled, nothing to push yet
        try a.record(order: "A-1")
        // Kiosk a's returns reach kiosk b by export and import, before a syncs them itself.
        var export = Data()
        try a.store.exportReturns { export.append($0) }
        try b.store.importReturns(ndjson: export)
        let report = try await b.sync()
        #expect(report.pushed == 1)
        #expect(try server.store.returnRecords() == a.records)
        // When a syncs, it finds its return already there.
        try await a.sync()
        #expect(try a.records == b.records)
        try await server.stop()
    }

    @Test func anUnreachableServerIsAClearErrorAndLeavesTheKioskUntouched() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        try kiosk.record()
        try await server.stop()
        let before = try kiosk.records
        await #expect {
            try await kiosk.sync()
        } throws: { error in
            // A sentence for a clerk, not NIO's error dump.
            "\(error)" == "cannot reach the server at \(server.address) (connection refused: is the server running?); "
                + "the returns stay here and will be sent on the next sync"
        }
        #expect(try kiosk.records == before)
        #expect(try kiosk.store.checkpoint(for: SyncClient.serverPeer).pushedSeq == 0)
    }
}

@Suite struct PushValidationTests {
    /// Runs `body` with a server store in a temporary directory that lives as long as the body runs.
    private func withServerStore(_ body: (ReplicaStore) throws -> Void) throws {
        let directory = try TemporaryDirectory()
        try withExtendedLifetime(directory) {
            try body(
                ReplicaStore.create(at: directory.file("server.sqlite"), identity: .server(replicaID: ReplicaID("hq")))
            )
        }
    }

    private func kioskRecord(store: String = "store-1", kiosk: String = "a") throws -> VersionedRecord {
        let item = try ProductReturn(
            id: ReturnID.make(),
            storeID: StoreID(store),
            kioskID: KioskID(kiosk),
            orderID: OrderID("O-1"),
            gtin: GTIN("96385074"),
            reason: .other,
            createdAt: Date()
        )
        return try ReturnEntity.makeRecord(
            for: item,
            by: ReplicaID("\(store)/\(kiosk)"),
            stamp: HLCTimestamp(physical: 1)
        )
    }

    @Test func anotherStoresReturnIsRefusedAndNothingIsStored() throws {
        try withServerStore { server in
            let own = try kioskRecord()
            let foreign = try kioskRecord(store: "store-2", kiosk: "z")
            #expect {
                try server.acceptPush([own, foreign], from: ReplicaID("store-1/a"), store: StoreID("store-1"))
            } throws: { error in
                // The message names the record, never the other store.
                (error as? PushRejection)?.reason == .forbiddenStore && !"\(error)".contains("store-2")
                    && (error as? PushRejection)?.recordID == foreign.id
            }
            #expect(try server.returnRecords().isEmpty)
        }
    }

    @Test func aClockClaimingWritesTheServerNeverSawIsForged() throws {
        try withServerStore { server in
            var record = try kioskRecord()
            // The kiosk claims an HQ write the server never made.
            try record.apply(
                RecordEdit(assignments: ["disposition": "restock"]),
                by: ReplicaID("hq"),
                stamp: HLCTimestamp(physical: 2)
            )
            #expect {
                try server.acceptPush([record], from: ReplicaID("store-1/a"), store: StoreID("store-1"))
            } throws: { error in
                (error as? PushRejection)?.reason == .forgedClock && "\(error)".contains("hq:1")
            }
            #expect(try server.returnRecords().isEmpty)
            // Nor may it claim writes of a replica the server does not know as a kiosk of its store.
            var ghost = try kioskRecord()
            try ghost.apply(
                RecordEdit(assignments: ["condition": "used"]),
                by: ReplicaID("store-1/ghost"),
                stamp: HLCTimestamp(physical: 2)
            )
            #expect {
                try server.acceptPush([ghost], from: ReplicaID("store-1/a"), store: StoreID("store-1"))
            } throws: { error in
                (error as? PushRejection)?.reason == .forgedClock
                    && "\(error)".contains("not a kiosk of store 'store-1'")
            }
            // Its own writes, however many, are the pusher's to claim.
            let honest = try kioskRecord()
            #expect(
                try server.acceptPush([honest], from: ReplicaID("store-1/a"), store: StoreID("store-1")).merged == 1
            )
        }
    }
}

@Suite struct EnrollmentTokenTests {
    /// Tokens are pasted into shells and command lines: never a leading '-', never a character that needs quoting.
    @Test func tokensAreSafeOnACommandLine() {
        let hex = Set("0123456789abcdef")
        for _ in 0..<2_000 {
            let token = EnrollmentToken.make(serverKeyFingerprint: String(repeating: "0f", count: 32)).description
            #expect(token.count == 48 + 1 + 64)
            #expect(token.allSatisfy { hex.contains($0) || $0 == "." } && token.first != "-", "\(token)")
        }
    }
}
