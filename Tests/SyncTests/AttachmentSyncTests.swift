import Crypto
import Foundation
import PostgresStorage
import ReplicaStore
import ReturnSyncJSON
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncClient
import SyncCore
import SyncEngine
import Testing
import WireProtocol

/// Photos and documents of returns: the metadata travels with the return at once; the bytes follow after the
/// records, in acknowledged chunks, checked against their digest (Protocol/SPEC.md §5.5) — on every backend, over
/// TCP, under cuts, and against kiosks that send what they should not.
@Suite struct AttachmentSyncTests {
    /// A JPEG's first bytes and then `size - 4` bytes made from `seed`: a photo no other test's photo equals.
    static func photo(_ size: Int, seed: UInt64) -> Data {
        var generator = SeededGenerator(seed: seed)
        return Data([0xFF, 0xD8, 0xFF, 0xDB])
            + Data((0..<(size - 4)).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    static func digest(_ bytes: Data) -> String { AttachmentRules.hex(SHA256.hash(data: bytes)) }

    /// A kiosk of `store` with one return holding `bytes`, not synced.
    static func kioskWithPhoto(
        _ bytes: Data,
        store: String = "store-1",
        in directory: TemporaryDirectory
    ) throws -> (kiosk: ReplicaStore, item: ProductReturn) {
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk-\(store).sqlite"),
            identity: .kiosk(store: StoreID(store), kiosk: KioskID("k1"))
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("96385074"), reason: .damaged)
        )
        try kiosk.attach(bytes, to: item.id, caption: "crushed corner")
        return (kiosk, item)
    }

    @Test(arguments: StorageBackend.all)
    func theMetadataReachesHQWithTheReturn(backend: StorageBackend) async throws {
        let directory = try TemporaryDirectory()
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("store-1"), kiosk: KioskID("k1"))
        )
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("96385074"), reason: .damaged)
        )
        let photo = Data([0xFF, 0xD8, 0xFF, 0xDB]) + Data(repeating: 0x42, count: 64)
        let attachment = try kiosk.attach(photo, to: item.id, caption: "crushed corner", operatorID: OperatorID("bo"))
        #expect(try kiosk.attachmentBytes(attachment.digest)?.data == photo)
        try await backend.with { instance in
            let hq = try #require(instance.storage as? any ReturnAdministration)
            _ = try await instance.storage.acceptPush(
                try kiosk.returnRecords(),
                from: ReplicaID("store-1/k1"),
                store: StoreID("store-1")
            )
            let atHQ = try ProductReturn(record: await hq.returnRecord(item.id))
            #expect(atHQ.attachments == [attachment], "\(backend)")
            let document = try ReturnDocument(record: await hq.returnRecord(item.id))
            #expect(document.attachments?.first?.replica == "store-1/k1")
            #expect(document.edits?.map(\.operatorId) == ["bo"])
        }
    }

    // MARK: The storage rules, on every backend

    @Test(arguments: StorageBackend.all)
    func theServerTakesAPhotoInOrderedChunksOnlyFromItsStoreAndChecksItsDigest(backend: StorageBackend) async throws {
        let directory = try TemporaryDirectory()
        let bytes = Self.photo(700_000, seed: 1)
        let digest = Self.digest(bytes)
        let (kiosk, _) = try Self.kioskWithPhoto(bytes, in: directory)
        try await backend.with { instance in
            let storage = instance.storage
            let store = try StoreID("store-1")
            #expect(try await storage.attachmentState(digest, store: store) == nil, "no return names it yet")
            _ = try await storage.acceptPush(try kiosk.returnRecords(), from: ReplicaID("store-1/k1"), store: store)
            #expect(try await storage.attachmentState(digest, store: StoreID("store-2")) == nil, "\(backend)")
            #expect(
                try await storage.attachmentState(digest, store: store)
                    == AttachmentState(digest: digest, mediaType: "image/jpeg", size: 700_000, held: 0, complete: false)
            )
            func refusal(_ body: () async throws -> Any) async -> ProtocolError.Code? {
                do {
                    _ = try await body()
                    return nil
                } catch {
                    return (error as? ProtocolError)?.code
                }
            }
            // Another store's kiosk may neither send nor read them.
            #expect(
                await refusal {
                    try await storage.appendAttachmentChunk(
                        digest,
                        store: StoreID("store-2"),
                        offset: 0,
                        bytes: bytes.prefix(10)
                    )
                } == .unknownAttachment
            )
            // Chunks in order, within the size.
            #expect(
                await refusal {
                    try await storage.appendAttachmentChunk(digest, store: store, offset: 10, bytes: bytes.prefix(10))
                } == .chunkOutOfOrder
            )
            #expect(
                await refusal {
                    try await storage.appendAttachmentChunk(digest, store: store, offset: 0, bytes: bytes + Data([1]))
                } == .limitExceeded
            )
            let first = try await storage.appendAttachmentChunk(
                digest,
                store: store,
                offset: 0,
                bytes: bytes.prefix(262_144)
            )
            #expect(first.held == 262_144 && !first.complete)
            // Durable and shared: another server process sees what is held.
            let other = try await instance.secondHandle()
            #expect(try await other.attachmentState(digest, store: store)?.held == 262_144)
            #expect(
                await refusal { try await storage.attachmentData(digest, store: store, offset: 0, limit: 10) }
                    == .attachmentUnavailable
            )
            _ = try await other.appendAttachmentChunk(
                digest,
                store: store,
                offset: 262_144,
                bytes: bytes[262_144..<524_288]
            )
            let last = try await storage.appendAttachmentChunk(
                digest,
                store: store,
                offset: 524_288,
                bytes: bytes[524_288...]
            )
            #expect(
                last
                    == AttachmentState(
                        digest: digest,
                        mediaType: "image/jpeg",
                        size: 700_000,
                        held: 700_000,
                        complete: true
                    )
            )
            // A chunk sent again after a lost acknowledgement is answered with the state.
            #expect(
                try await storage.appendAttachmentChunk(digest, store: store, offset: 524_288, bytes: bytes[524_288...])
                    .complete
            )
            // Read back across chunk boundaries.
            for (offset, limit) in [(0, 262_144), (250_000, 100_000), (699_990, 262_144)] {
                let read = try await storage.attachmentData(digest, store: store, offset: Int64(offset), limit: limit)
                #expect(read.bytes == bytes[offset..<min(offset + limit, bytes.count)], "\(backend) \(offset)")
            }
            #expect(
                await refusal { try await storage.attachmentData(digest, store: store, offset: 700_000, limit: 10) }
                    == .limitExceeded
            )
            let hq = try #require(storage as? any AttachmentAdministration)
            let listing = try await hq.attachmentListing(store: nil, missing: false)
            #expect(
                listing == [
                    AttachmentListing(
                        digest: digest,
                        mediaType: "image/jpeg",
                        size: 700_000,
                        held: 700_000,
                        complete: true,
                        stores: ["store-1"],
                        returns: 1
                    )
                ]
            )
            #expect(try await hq.attachmentListing(store: nil, missing: true).isEmpty)
            #expect(try await hq.attachmentListing(store: StoreID("store-2"), missing: false).isEmpty)
            let streamed = Streamed()
            let held = try await hq.streamAttachment(digest) { streamed.append($0) }
            #expect(held?.size == 700_000 && held?.mediaType == "image/jpeg")
            #expect(streamed.bytes == bytes)
        }
    }

    @Test(arguments: StorageBackend.all)
    func bytesThatDoNotHashToTheirDigestAreDroppedAndTakenAgainFromByteZero(backend: StorageBackend) async throws {
        let directory = try TemporaryDirectory()
        let bytes = Self.photo(300_000, seed: 2)
        let digest = Self.digest(bytes)
        let (kiosk, _) = try Self.kioskWithPhoto(bytes, in: directory)
        try await backend.with { instance in
            let storage = instance.storage
            let store = try StoreID("store-1")
            _ = try await storage.acceptPush(try kiosk.returnRecords(), from: ReplicaID("store-1/k1"), store: store)
            var forged = bytes
            forged[150_000] ^= 0xFF
            _ = try await storage.appendAttachmentChunk(digest, store: store, offset: 0, bytes: forged.prefix(200_000))
            do {
                _ = try await storage.appendAttachmentChunk(
                    digest,
                    store: store,
                    offset: 200_000,
                    bytes: forged.suffix(100_000)
                )
                Issue.record("\(backend) took bytes of another digest")
            } catch let error as ProtocolError {
                #expect(error.code == .digestMismatch)
                #expect(error.message.contains(digest))
            }
            #expect(try await storage.attachmentState(digest, store: store)?.held == 0, "\(backend): dropped")
            let hq = try #require(storage as? any AttachmentAdministration)
            #expect(try await hq.streamAttachment(digest) { _ in } == nil)
            _ = try await storage.appendAttachmentChunk(digest, store: store, offset: 0, bytes: bytes.prefix(200_000))
            let done = try await storage.appendAttachmentChunk(
                digest,
                store: store,
                offset: 200_000,
                bytes: bytes.suffix(100_000)
            )
            #expect(done.complete)
        }
    }

    // MARK: Upgrades

    /// A kiosk that attached photos before the transfer existed (schema v15) names them after the upgrade: its next
    /// sync sends them.
    @Test func aKioskFromBeforeTheTransferKnowsWhichPhotosToSendAfterTheUpgrade() async throws {
        let directory = try TemporaryDirectory()
        let bytes = Self.photo(5_000, seed: 6)
        let path: String
        do {
            let (kiosk, _) = try Self.kioskWithPhoto(bytes, in: directory)
            path = kiosk.path
        }
        let downgrade = try ChildProcess(
            "/usr/bin/env",
            [
                "sqlite3", path,
                "DROP TABLE return_attachments; DROP TABLE attachment_uploads; DROP TABLE attachment_chunks; "
                    + "ALTER TABLE attachments DROP COLUMN uploaded_at; "
                    + "DELETE FROM grdb_migrations WHERE identifier LIKE 'v16:%';",
            ],
            output: .discard
        )
        let downgraded = try await offThePool { downgrade.waitUntilExit() }
        #expect(downgraded == .init(status: 0, bySignal: false))
        let upgraded = try ReplicaStore.open(at: path)
        #expect(try upgraded.attachmentsToUpload().map(\.digest) == [Self.digest(bytes)])
        #expect(try upgraded.status().attachmentsUnsent == 1)
        #expect(try upgraded.namedAttachment(Self.digest(bytes))?.size == 5_000)
    }

    /// PostgreSQL databases holding returns with attachments before the transfer name them once reopened.
    @Test(.enabled(if: PostgresTestServer.isAvailable))
    func aPostgreSQLDatabaseFromBeforeTheTransferNamesItsReturnsAttachments() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        let directory = try TemporaryDirectory()
        let bytes = Self.photo(5_000, seed: 8)
        let (kiosk, _) = try Self.kioskWithPhoto(bytes, in: directory)
        do {
            let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
            _ = try await storage.acceptPush(
                try kiosk.returnRecords(),
                from: ReplicaID("store-1/k1"),
                store: StoreID("store-1")
            )
            await storage.close()
            // As the migration leaves a database whose returns were stored before it.
            try await PostgresTestServer.adminQuery(url, "DELETE FROM return_attachments")
            try await PostgresTestServer.adminQuery(
                url,
                "INSERT INTO returnsync_pending (task) VALUES ('project-returns')"
            )
            let reopened = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
            let state = try await reopened.attachmentState(Self.digest(bytes), store: StoreID("store-1"))
            await reopened.close()
            #expect(state?.size == 5_000 && state?.held == 0)
        } catch {
            await drop()
            throw error
        }
        await drop()
    }

    // MARK: Over TCP

    @Test func photosFollowTheirReturnsToHQOnceAndAnotherKioskOfTheStoreFetchesThemOnDemand() async throws {
        let server = try await TestServer()
        let a = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let b = try TestKiosk(store: "store-1", kiosk: "b", server: server)
        let other = try TestKiosk(store: "store-2", kiosk: "c", server: server)
        let big = Self.photo(700_000, seed: 3)
        let pdf = Data("%PDF-1.4\n".utf8) + Data(repeating: 0x20, count: 5_000)
        let first = try a.record(order: "O-1")
        let second = try a.record(order: "O-2")
        // The same photo on two returns is one attachment: stored and sent once.
        try a.store.attach(big, to: first.id)
        try a.store.attach(big, to: second.id)
        try a.store.attach(pdf, to: second.id)
        #expect(try a.store.status().attachmentsUnsent == 2)
        #expect(try a.store.status().attachmentBytesUnsent == Int64(big.count + pdf.count))

        let report = try await a.sync()
        #expect(report.pushed == 2)
        #expect(report.attachmentsSent == 2)
        #expect(report.attachmentBytesSent == Int64(big.count + pdf.count), "each byte sent once")
        #expect(try a.store.status().attachmentsUnsent == 0)
        #expect(try server.store.streamAttachment(Self.digest(big)) { _ in }?.size == 700_000)
        let listing = try server.store.attachmentStates(store: nil, missing: false)
        #expect(listing.map(\.complete) == [true, true])
        #expect(listing.first { $0.digest == Self.digest(big) }?.returns == 2)
        let again = try await a.sync()
        #expect(again.attachmentsSent == 0 && again.attachmentBytesSent == 0)

        // Kiosk b has the returns, not the bytes, until it asks.
        try await b.sync()
        #expect(try b.store.attachmentBytes(Self.digest(big)) == nil)
        let fetched = try await b.client.fetchAttachment(Self.digest(big))
        #expect(fetched.data == big && fetched.mediaType == "image/jpeg")
        #expect(try b.store.attachmentBytes(Self.digest(big))?.data == big, "kept")
        #expect(try b.store.status().attachmentsUnsent == 0, "the server holds them: never sent back")
        #expect(try await b.sync().attachmentBytesSent == 0)

        // Another store's kiosk names no such attachment, and the server tells it nothing either.
        await #expect(throws: SyncError.self) { try await other.client.fetchAttachment(Self.digest(big)) }
        try await other.sync()
        let wire = try HandBuiltKiosk(other)
        let answers = try await RawClient.connect(to: server).converse { send, receive in
            #expect(try await wire.authenticate(send, receive)?["type"] == .string("welcome"))
            var answers: [JSONValue?] = []
            for request in [
                SyncMessage.attachmentGet(digest: Self.digest(big), offset: 0),
                .attachmentOffer(digest: Self.digest(big)),
                .attachmentPut(digest: Self.digest(big), offset: 0, data: Array(big.prefix(10))),
            ] {
                try await send(String(decoding: request.encoded(), as: UTF8.self) + "\n")
                answers.append(try await receive())
            }
            return answers
        }
        for answer in answers {
            #expect(answer?["code"] == .string("unknown-attachment"), "\(answer?.serializedString ?? "closed")")
        }
        try await server.stop()
    }

    @Test func aKioskWhoseReturnTheServerDoesNotHoldKeepsItsPhotoForALaterSync() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let item = try kiosk.record()
        let bytes = Self.photo(2_000, seed: 4)
        try kiosk.store.attach(bytes, to: item.id)
        // The return was refused and set aside (a quarantine): its photo cannot go either, and nothing blocks.
        #expect(try kiosk.store.quarantine(recordID: item.id.rawValue, code: "invalid-record", message: "test"))
        let report = try await kiosk.sync()
        #expect(report.attachmentsSent == 0)
        #expect(report.attachmentsWaiting.map(\.refusal.code) == [.unknownAttachment])
        #expect(try kiosk.store.status().attachmentsUnsent == 1)
        // Dropped by the operator: its photo is no longer offered.
        try kiosk.store.dropQuarantined(item.id.rawValue)
        #expect(try kiosk.store.status().attachmentsUnsent == 0)
        #expect(try await kiosk.sync().attachmentsWaiting.isEmpty)
        try await server.stop()
    }

    @Test func photosTheServerWillNotTakeNeverHoldBackTheOnesAfterThem() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        // More set-aside returns with photos than a sync reads at once, then one the server takes.
        for index in 0..<60 {
            let item = try kiosk.record(order: "O-\(index)")
            try kiosk.store.attach(Self.photo(300, seed: 1_000 + UInt64(index)), to: item.id)
            #expect(try kiosk.store.quarantine(recordID: item.id.rawValue, code: "invalid-record", message: "test"))
        }
        let good = try kiosk.record(order: "O-good")
        let photo = Self.photo(300, seed: 2_000)
        try kiosk.store.attach(photo, to: good.id)
        let report = try await kiosk.sync()
        #expect(report.attachmentsSent == 1)
        #expect(report.attachmentsWaiting.count == 60)
        #expect(try server.store.streamAttachment(Self.digest(photo)) { _ in }?.size == 300)
        try await server.stop()
    }

    @Test func aVersion3ServerLeavesPhotosOnTheKioskAndSyncsTheRecords() async throws {
        let server = try await TestServer(configure: { $0.protocolVersions = [3] })
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let item = try kiosk.record()
        try kiosk.store.attach(Self.photo(2_000, seed: 5), to: item.id)
        let report = try await kiosk.sync()
        #expect(report.pushed == 1)
        #expect(report.attachmentsSent == 0 && report.attachmentsWaiting.isEmpty)
        #expect(try kiosk.store.status().attachmentsUnsent == 1)
        try await server.stop()
    }

    /// Cuts the upload of a photo at byte offsets across it; each cut sync is followed by a normal one, which goes on
    /// from what the server holds (never from byte 0 again) and leaves the server with every byte, verified.
    @Test func anUploadCutAnywhereResumesWhereTheServerStoppedAndLosesNothing() async throws {
        let server = try await TestServer()
        let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
        let serverPort = Int(server.address.split(separator: ":").last!)!
        var resumedPartway = 0
        var recorded: [ReturnID] = []
        for (index, budget) in stride(from: 2_000, to: 960_000, by: 80_000).enumerated() {
            let item = try kiosk.record(order: "O-\(index)")
            recorded.append(item.id)
            let bytes = Self.photo(700_000, seed: 100 + UInt64(index))
            let digest = Self.digest(bytes)
            try kiosk.store.attach(bytes, to: item.id)
            let proxy = try await CuttingProxy(target: serverPort, direction: .toServer, budget: budget)
            _ = try? await kiosk.client.sync(server: "127.0.0.1:\(proxy.port)")
            await proxy.close()
            let held = try server.store.attachmentState(digest, store: StoreID("store-1"))?.held ?? 0
            if held > 0 {
                // Bytes arrived, so the records went first: the return is at HQ before its photo.
                #expect(try server.store.returnRecords().contains { $0.id == item.id.rawValue })
            }
            let retry = try await kiosk.sync()
            #expect(retry.attachmentBytesSent == 700_000 - held, "cut after \(budget) bytes: resumed at \(held)")
            if held > 0 && held < 700_000 { resumedPartway += 1 }
            let streamed = Streamed()
            #expect(try server.store.streamAttachment(digest) { streamed.append($0) }?.size == 700_000)
            #expect(streamed.bytes == bytes)
            #expect(try kiosk.store.status().attachmentsUnsent == 0)
            #expect(try kiosk.records == server.store.returnRecords(store: StoreID("store-1")))
        }
        #expect(Set(try server.store.returnRecords().map(\.id)) == Set(recorded.map(\.rawValue)))
        #expect(resumedPartway >= 5, "\(resumedPartway) cuts fell inside an upload")
        try await server.stop()
    }
}

/// Bytes a stream wrote, collected across threads.
final class Streamed: @unchecked Sendable {
    private let lock = NSLock()
    private var collected = Data()

    func append(_ data: Data) { lock.withLock { collected.append(data) } }
    var bytes: Data { lock.withLock { collected } }
}

/// A reproducible generator (SplitMix64), so a test's photos are the same every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
