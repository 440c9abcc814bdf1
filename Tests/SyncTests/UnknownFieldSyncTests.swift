import CommandLineSupport
import Foundation
import KioskCLI
import ReplicaStore
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing

/// Issue 22, mixed versions: a field a newer kiosk writes, which this release does not know, is kept by HQ and
/// forwarded to the store's other kiosks, shown as "unknown (newer)", and comes back untouched with their edits.
@Suite struct UnknownFieldSyncTests {
    @Test func aNewerKiosksFieldIsKeptForwardedShownAndComesBackUntouched() async throws {
        let fleet = try await AdversaryTests.Fleet()
        // What a kiosk of a later release pushes: a return with a field this release has never heard of.
        let record = try forgedReturn(
            store: "store-1",
            kiosk: "a",
            stamp: .now,
            extra: ["warrantyId": .string("W-2027-0042"), "loyaltyPoints": .integer(500)]
        )
        let answer = try await fleet.wire.push(record, to: fleet.server)
        #expect(answer?["type"] == .string("push-ack"), "\(answer?.serializedString ?? "closed")")
        let id = try ReturnID(record.id)
        let held = try fleet.server.store.returnRecord(id)
        #expect(held.values(of: "warrantyId").map(\.value) == [.string("W-2027-0042")])

        // The store's other kiosk receives it whole and shows what it cannot read for what it is.
        try await fleet.honest.sync()
        let received = try fleet.honest.store.returnRecord(id)
        #expect(received == held)
        let shown = try Format.returnDetails(received)
        #expect(shown.contains("unknown      loyaltyPoints = 500 (newer)"), "\(shown)")
        #expect(shown.contains("unknown      warrantyId = \"W-2027-0042\" (newer)") || shown.contains("W-2027-0042"))

        // It edits the return; the field travels back untouched, with the write that made it.
        _ = try fleet.honest.store.updateReturn(id, operation: "inspect") { item, author, date in
            try item.inspect(condition: .damaged, testResult: .fail, by: author, at: date)
        }
        #expect(try await fleet.honest.sync().pushed == 1)
        let after = try fleet.server.store.returnRecord(id)
        #expect(after.values(of: "warrantyId") == held.values(of: "warrantyId"))
        #expect(after.values(of: "loyaltyPoints") == held.values(of: "loyaltyPoints"))
        #expect(try ProductReturn(record: after).condition == .damaged)
        // Another store's kiosk never sees it.
        try await fleet.otherStore.sync()
        #expect(try fleet.otherStore.store.record(entityType: "return", id: record.id) == nil)
        try await fleet.server.stop()
    }

    @Test(arguments: StorageBackend.all)
    func everyBackendKeepsAnUnknownFieldWithTheWriteThatMadeIt(backend: StorageBackend) async throws {
        let record = try forgedReturn(
            store: "store-1",
            kiosk: "k1",
            stamp: .now,
            extra: ["warrantyId": .string("W-1"), "loyaltyPoints": .integer(5)]
        )
        try await backend.with { instance in
            let hq = try #require(instance.storage as? any ReturnAdministration)
            _ = try await instance.storage.acceptPush(
                [record],
                from: ReplicaID("store-1/k1"),
                store: StoreID("store-1")
            )
            let held = try await hq.returnRecord(ReturnID(record.id))
            for field in ["warrantyId", "loyaltyPoints"] {
                #expect(held.values(of: field) == record.values(of: field), "\(backend) \(field)")
            }
        }
    }

    /// A newer release's value of a field this one knows — a reason, a status it added — is kept by HQ and
    /// forwarded to the store's other kiosks, whose pulls go on (they failed on every page holding it before
    /// 0.5.0); shown "(newer)", the return read-only where it is not understood, notes still welcome.
    @Test func aNewerReleasesValueIsKeptForwardedShownAndTheReturnIsReadOnlyWhereUnknown() async throws {
        let fleet = try await AdversaryTests.Fleet()
        let record = try forgedReturn(
            store: "store-1",
            kiosk: "a",
            stamp: .now,
            extra: ["reason": .string("gift-return"), "status": .string("awaiting-pickup")]
        )
        let answer = try await fleet.wire.push(record, to: fleet.server)
        #expect(answer?["type"] == .string("push-ack"), "\(answer?.serializedString ?? "closed")")
        let id = try ReturnID(record.id)
        let held = try fleet.server.store.returnRecord(id)
        #expect(held.values(of: "reason").map(\.value) == [.string("gift-return")])
        // HQ's projection holds the spelling, not what this release reads it as: reports count it under its name.
        let row = try #require(
            try fleet.server.store.findReturns(ReturnSearch()).returns.first { $0.row.id == record.id }
        )
        #expect(row.row.reason == "gift-return" && row.row.status == "awaiting-pickup")

        // The store's other kiosk pulls it, and its own capture syncs in the same round.
        let own = try fleet.honest.store.recordReturn(
            ReturnCapture(orderID: OrderID("ORD-1"), gtin: GTIN("04006381333931"), reason: .damaged)
        )
        let report = try await fleet.honest.sync()
        #expect(report.pushed == 1)
        let received = try fleet.honest.store.returnRecord(id)
        #expect(received == held)
        let shown = try Format.returnDetails(received)
        #expect(shown.contains("reason       gift-return (newer)"), "\(shown)")
        #expect(shown.contains("status       awaiting-pickup (newer)"), "\(shown)")
        #expect(shown.contains("NEWER "), "\(shown)")
        #expect(
            try ProductReturn(record: received).newerValues == ["reason": "gift-return", "status": "awaiting-pickup"]
        )
        // `kiosk status` counts it under its own status: the total is every return held.
        let status = try fleet.honest.store.status()
        #expect(status.newerStatuses == ["awaiting-pickup": 1])
        #expect(status.totalReturns == status.returnsByStatus.values.reduce(0, +) + 1)
        #expect(Format.status(status).contains(", awaiting-pickup 1 (newer)"), "\(Format.status(status))")
        // `kiosk list` marks them too, as the clerk reads it.
        let listed = await runCaptured {
            await KioskCLI.run(arguments: ["list", "--db", fleet.honest.store.path])
        }
        // Its line: the one whose short id is a prefix of its id.
        let line = try #require(
            listed.stdout.split(separator: "\n").first { line in
                line.split(separator: " ").first.map { id.rawValue.hasPrefix($0) } == true
            }
        )
        #expect(line.contains("awaiting-pickup (newer)") && line.contains("gift-return (newer)"), "\(listed.stdout)")
        #expect(!listed.stdout.contains("damaged (newer)"), "a value this release knows is not marked")

        // Read-only here: a lifecycle edit is refused, naming the value; nothing is written.
        let changes = try fleet.honest.store.changeLogCount()
        #expect {
            _ = try fleet.honest.store.updateReturn(id, operation: "inspect") { item, author, date in
                try item.inspect(condition: .damaged, testResult: .fail, by: author, at: date)
            }
        } throws: { error in
            let error = error as? ReturnsModelError
            return error?.code == .newerValue && error?.message.contains("reason 'gift-return'") == true
        }
        #expect(try fleet.honest.store.changeLogCount() == changes)
        // A note is an annotation: it is taken, and the newer values travel back untouched with it.
        _ = try fleet.honest.store.updateReturn(id, operation: "note") { item, author, date in
            try item.addNote("Customer asked for a gift receipt", by: author, at: date)
        }
        #expect(try await fleet.honest.sync().pushed == 1)
        let after = try fleet.server.store.returnRecord(id)
        #expect(after.values(of: "reason") == held.values(of: "reason"))
        #expect(after.values(of: "status") == held.values(of: "status"))
        #expect(after.elements(of: "notes").count == 1)
        #expect(try fleet.server.store.returnRecord(ReturnID(own.id.rawValue)).id == own.id.rawValue)
        try await fleet.server.stop()
    }

    @Test(arguments: StorageBackend.all)
    func everyBackendProjectsANewerValueAsItIsSpelled(backend: StorageBackend) async throws {
        let record = try forgedReturn(
            store: "store-1",
            kiosk: "k1",
            stamp: .now,
            extra: ["condition": .string("refurbished"), "disposition": .string("resell-online")]
        )
        try await backend.with { instance in
            let hq = try #require(instance.storage as? any ReturnAdministration)
            _ = try await instance.storage.acceptPush(
                [record],
                from: ReplicaID("store-1/k1"),
                store: StoreID("store-1")
            )
            let found = try await hq.findReturns(ReturnSearch(), records: true).returns
            let row = try #require(found.first { $0.row.id == record.id })
            #expect(row.row.condition == "refurbished", "\(backend)")
            #expect(row.row.disposition == "resell-online", "\(backend)")
            #expect(row.record == record, "\(backend)")
        }
    }

    /// Only a spelling a vocabulary could have is a newer value; anything else is still refused, nothing stored.
    @Test(arguments: [
        "Gift-Return", "gift--return", "gift-return-", "-gift", "gift return", String(repeating: "g", count: 41),
    ])
    func aValueNoVocabularyCouldHoldIsStillRefused(reason: String) async throws {
        let fleet = try await AdversaryTests.Fleet()
        let changes = try fleet.server.store.changeLogCount()
        let record = try forgedReturn(store: "store-1", kiosk: "a", stamp: .now, extra: ["reason": .string(reason)])
        let answer = try await fleet.wire.push(record, to: fleet.server)
        #expect(
            answer?["message"]?.stringValue?.contains("invalid reason") == true,
            "\(answer?.serializedString ?? "")"
        )
        try await fleet.expectRefused(answer, .invalidRecord, changesBefore: changes)
        try await fleet.server.stop()
    }

    @Test func anUnknownFieldOutsideTheBoundsIsRefusedAndNothingStored() async throws {
        let fleet = try await AdversaryTests.Fleet()
        let changes = try fleet.server.store.changeLogCount()
        let record = try forgedReturn(
            store: "store-1",
            kiosk: "a",
            stamp: .now,
            extra: ["warrantyNote": .string("clear\u{1B}[2Jscreen")]
        )
        let answer = try await fleet.wire.push(record, to: fleet.server)
        #expect(answer?["message"]?.stringValue?.contains("warrantyNote") == true)
        try await fleet.expectRefused(answer, .invalidRecord, changesBefore: changes)
        try await fleet.server.stop()
    }
}
