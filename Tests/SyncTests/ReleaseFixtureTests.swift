import CommandLineSupport
import Foundation
import ReplicaStore
import ReturnSyncJSON
import ReturnSyncTestSupport
import ReturnsModel
import SyncEngine
import Testing
import WireProtocol

/// What each release wrote, frozen under `Protocol/vectors/releases/VERSION/` and replayed by every later release
/// (issue 22): the pushes its kiosks sent for a day at two stores (frames as this release encoded them), what HQ
/// made of them, and a kiosk's export. A later release must take every old push, mean the same by it, and read the
/// old export losslessly.
///
/// The current release's directory must exist: a version bump fails this suite until
/// `RETURNSYNC_FREEZE_RELEASE=1 swift test --filter ReleaseFixtureTests` writes it (commit it; never edit an old
/// one).
@Suite struct ReleaseFixtureTests {
    static let releases = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Protocol/vectors/releases")

    /// Every frozen release, oldest first by name.
    static var frozen: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: releases.path)) ?? []).filter {
            $0.first?.isNumber == true
        }.sorted()
    }

    /// The facts of each return HQ holds that a later release must read the same: what a return is and where it
    /// went, whatever else later releases add.
    static func facts(_ store: ReplicaStore) throws -> [String: String] {
        Dictionary(
            uniqueKeysWithValues: try store.returnRecords().map { record in
                let item = try ProductReturn(record: record)
                return (
                    item.id.rawValue,
                    [
                        item.storeID.rawValue, item.orderID.rawValue, item.gtin.digits, item.reason.rawValue,
                        "\(item.quantity)", item.status.rawValue, item.disposition.rawValue, item.condition.rawValue,
                        ["condition", "disposition"].filter(record.isInConflict).joined(separator: ","),
                    ].joined(separator: " ")
                )
            }
        )
    }

    /// Applies `pushes.ndjson`'s pushes to a fresh HQ; the HQ.
    static func replayPushes(_ lines: [String], in directory: TemporaryDirectory) throws -> ReplicaStore {
        let hq = try ReplicaStore.create(at: directory.file("hq.sqlite"), identity: .server(replicaID: ReplicaID("hq")))
        for (number, line) in lines.enumerated() {
            let entry = try JSONValue.parse(line)
            guard case .string(let from)? = entry["from"], case .string(let store)? = entry["store"],
                let frame = entry["frame"]
            else { throw CLIError(message: "pushes.ndjson line \(number + 1): no from, store or frame") }
            guard case .push(_, let records) = try SyncMessage.decode(frame) else {
                throw CLIError(message: "pushes.ndjson line \(number + 1): not a push")
            }
            _ = try hq.acceptPush(records, from: ReplicaID(from), store: StoreID(store))
        }
        return hq
    }

    /// A new kiosk of store `north` that pulled everything HQ holds for it; its export.
    static func exportOfAKioskThatPulled(from hq: ReplicaStore, in directory: TemporaryDirectory) throws -> Data {
        let kiosk = try ReplicaStore.create(
            at: directory.file("north-k9.sqlite"),
            identity: .kiosk(store: StoreID("north"), kiosk: KioskID("k9"))
        )
        let feed = try hq.encodedFeed(store: StoreID("north"), after: 0, limit: 10_000)
        _ = try kiosk.mergePulled(try feed.records.map { try VersionedRecord(jsonValue: JSONValue.parse($0)) })
        var exported = Data()
        _ = try kiosk.exportReturns { exported.append($0) }
        return exported
    }

    /// Writes this release's fixtures from `ReportParityTests.storeDay`.
    static func freeze(into folder: URL) throws {
        let directory = try TemporaryDirectory()
        var lines: [String] = []
        for (batch, (pusher, store, records)) in try ReportParityTests.storeDay(in: directory).enumerated() {
            let frame = try JSONValue.parse(
                String(decoding: SyncMessage.push(batch: batch + 1, records: records).encoded(), as: UTF8.self)
            )
            let entry = JSONValue.object([
                "from": .string(pusher.rawValue), "store": .string(store.rawValue), "frame": frame,
            ])
            lines.append(String(decoding: entry.serialized(), as: UTF8.self))
        }
        let replayed = try TemporaryDirectory()
        let hq = try replayPushes(lines, in: replayed)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(
            to: folder.appendingPathComponent("pushes.ndjson"),
            atomically: true,
            encoding: .utf8
        )
        let facts = try facts(hq).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        try (facts.joined(separator: "\n") + "\n").write(
            to: folder.appendingPathComponent("returns.txt"),
            atomically: true,
            encoding: .utf8
        )
        try exportOfAKioskThatPulled(from: hq, in: replayed).write(
            to: folder.appendingPathComponent("kiosk-export.ndjson")
        )
    }

    @Test func theCurrentReleaseHasItsFixtures() throws {
        let folder = Self.releases.appendingPathComponent(ReturnSyncVersion.release)
        if ProcessInfo.processInfo.environment["RETURNSYNC_FREEZE_RELEASE"] == "1",
            !FileManager.default.fileExists(atPath: folder.path)
        {
            try Self.freeze(into: folder)
        }
        #expect(
            FileManager.default.fileExists(atPath: folder.appendingPathComponent("pushes.ndjson").path),
            "Protocol/vectors/releases/\(ReturnSyncVersion.release) is missing: RETURNSYNC_FREEZE_RELEASE=1 writes it"
        )
    }

    @Test(arguments: Self.frozen)
    func aReleasesPushesAreTakenAndMeanTheSameAndItsExportReadsLosslessly(release: String) throws {
        let folder = Self.releases.appendingPathComponent(release)
        let pushes = try String(contentsOf: folder.appendingPathComponent("pushes.ndjson"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        #expect(pushes.count >= 4)
        let directory = try TemporaryDirectory()
        let hq = try Self.replayPushes(pushes, in: directory)
        let expected = try String(contentsOf: folder.appendingPathComponent("returns.txt"), encoding: .utf8)
        let facts = try Self.facts(hq).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        #expect(facts.joined(separator: "\n") + "\n" == expected, "what HQ makes of \(release)'s pushes")
        #expect(facts.count >= 7, "a day at two stores: \(facts.count) returns")
        #expect(facts.contains { $0.hasSuffix(" disposition") }, "the disputed return is still in conflict")

        // The export of a kiosk of that release: every line imported, and exported again as it was.
        let export = try Data(contentsOf: folder.appendingPathComponent("kiosk-export.ndjson"))
        let kiosk = try ReplicaStore.create(
            at: directory.file("reader.sqlite"),
            identity: .kiosk(store: StoreID("north"), kiosk: KioskID("k8"))
        )
        let summary = try kiosk.importReturns(ndjson: export)
        let lines = export.split(separator: UInt8(ascii: "\n")).count
        #expect(summary.imported == lines && lines > 0, "\(summary) of \(lines)")
        var again = Data()
        _ = try kiosk.exportReturns { again.append($0) }
        #expect(again == export, "\(release)'s export reads and writes back losslessly")
    }
}
