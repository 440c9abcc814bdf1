import Foundation
import GRDB
import PropertyBased
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

@testable import ReplicaStore

/// A sync round's start in one call (`startRound`, one read transaction when nothing needs writing) must answer and
/// leave behind exactly what its steps one by one do: the server's id noted (a new one restarts the checkpoint), the
/// capabilities noted, the server's clock taken (stamps moved when the kiosk ran ahead), the checkpoint and the first
/// changes to push read.
@Suite struct RoundStartPropertyTests {
    static let peer = ReplicaStore.serverPeer
    static let now: Int64 = 1_790_000_000_000

    static func kiosk(_ path: String, _ name: String) throws -> ReplicaStore {
        try ReplicaStore.create(
            at: path,
            identity: .kiosk(store: StoreID("s"), kiosk: KioskID(name)),
            configuration: .init(now: { Date(millisecondsSince1970: now) })
        )
    }

    /// The steps `startRound` stands for, as the client ran them before it.
    static func stepByStep(
        _ store: ReplicaStore,
        serverID: String?,
        capabilities: Set<String>?,
        serverClock: (serverTime: Int64, measuredAt: Date)?,
        limit: Int
    ) throws -> RoundStart {
        let restarted = try serverID.map { try store.noteServerID($0) } ?? false
        try capabilities.map { try store.noteServerCapabilities($0) }
        let clock = try serverClock.flatMap { try store.adoptServerClock($0.serverTime, measuredAt: $0.measuredAt) }
        let checkpoint = try store.checkpoint(for: peer)
        let changes = try store.encodedChanges(since: checkpoint.pushedSeq, limit: limit)
        return RoundStart(restarted: restarted, clock: clock, checkpoint: checkpoint, changes: changes)
    }

    /// What a round start answers and leaves, with the kiosk's own ids (random) left out: restamped records are
    /// counted, changes named by their sequence numbers.
    static func observed(_ start: RoundStart, _ store: ReplicaStore) throws -> [String] {
        let state = try store.pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT c.server_id, r.server_capabilities, r.clock_offset_ms, r.hlc_physical, r.hlc_logical
                    FROM replica r, sync_credentials c
                    """
            )?.description ?? "no credentials"
        }
        let clock = start.clock.map {
            "clock \($0.measured) \($0.correction) \($0.previous) restamped \($0.restamped.count)"
        }
        return [
            "restarted \(start.restarted)", clock ?? "no clock",
            "checkpoint \(start.checkpoint.pushedSeq) \(start.checkpoint.pullCursor ?? "-")",
            "changes \(start.changes.map { "\($0.seq) \($0.entityType)" })", state,
        ]
    }

    @Test func oneCallAnswersAndLeavesWhatItsStepsDoOneByOne() async throws {
        let steps = Gen.int(in: 0...1023).array(of: 1...30)
        await propertyCheck(count: 40, input: steps) { codes in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            do {
                let directory = try TemporaryDirectory(function: "round-start")
                let once = try Self.kiosk(directory.file("a.sqlite"), "a")
                let steps = try Self.kiosk(directory.file("b.sqlite"), "b")
                for store in [once, steps] {
                    try store.saveSyncCredentials(
                        SyncCredentials(server: "127.0.0.1:1", token: nil, privateKey: Data(repeating: 1, count: 32))
                    )
                }
                for (step, code) in codes.enumerated() {
                    switch code % 4 {
                    case 0:
                        for store in [once, steps] {
                            let item = try store.recordReturn(
                                ReturnCapture(orderID: OrderID("ORD-\(step)"), gtin: GTIN("96385074"), reason: .damaged)
                            )
                            if (code >> 2) & 1 == 1 {
                                _ = try store.updateReturn(item.id, operation: "note") { item, author, date in
                                    try item.addNote("note \(step)", by: author, at: date)
                                }
                            }
                        }
                    case 1:
                        // The server acknowledged everything so far.
                        for store in [once, steps] {
                            try store.advancePushCheckpoint(
                                overMergesAfter: try store.lastChangeSeq(),
                                peer: Self.peer,
                                syncedAt: Date(millisecondsSince1970: Self.now)
                            )
                        }
                    default:
                        // A server of two ids (a restore), capabilities that change now and then, its clock the
                        // kiosk's, a little off, or ten minutes either way (a correction; stamps moved back).
                        let serverID = [nil, "server-1", "server-1", "server-2"][(code >> 2) % 4]
                        let capabilities: Set<String>? = [nil, ["settled-history"], ["settled-history", "x"]][
                            (code >> 4) % 3
                        ]
                        let offset: Int64? = [nil, 0, 1_500, 600_000, -600_000][(code >> 6) % 5]
                        let clock = offset.map { (Self.now + $0, Date(millisecondsSince1970: Self.now)) }
                        let limit = 1 + (code >> 9)
                        let one = try once.startRound(
                            serverID: serverID,
                            capabilities: capabilities,
                            serverClock: clock,
                            peer: Self.peer,
                            limit: limit
                        )
                        let byStep = try Self.stepByStep(
                            steps,
                            serverID: serverID,
                            capabilities: capabilities,
                            serverClock: clock,
                            limit: limit
                        )
                        let seen = (try Self.observed(one, once), try Self.observed(byStep, steps))
                        #expect(seen.0 == seen.1, "after step \(step): \(code): \(seen.0.difference(from: seen.1))")
                    }
                }
            } catch {
                Issue.record(error)
            }
        }
    }
}
