import Foundation
import PropertyBased
import ReplicaStore
import ReturnsModel
import ReturnsSync
import SyncEngine
import Testing

/// Issue 22: pruning loses nothing. Random days at a kiosk — captures, closes, voids, syncs, HQ's notes, a prune
/// 200 days later, fetches — and after every step what the kiosk and HQ hold together is every write ever made to
/// every return (their join equals the join of every version either side ever had); after a last sync HQ holds it
/// all, and whatever the kiosk still holds is HQ's version.
@Suite struct PruningPropertyTests {
    struct Step: Sendable, CustomStringConvertible {
        var action: Int
        var pick: Int
        var description: String {
            "\(["capture", "close", "void", "sync", "hq-note", "prune-later", "fetch"][action])#\(pick)"
        }
    }

    static let days = Generator<[Step], Shrink.None<[Step]>>(run: { rng in
        (0..<Int.random(in: 4...14, using: &rng)).map { _ in
            Step(action: Int.random(in: 0..<7, using: &rng), pick: Int.random(in: 0..<50, using: &rng))
        }
    })

    @Test func whatTheKioskAndHQHoldTogetherIsEveryWriteEverMade() async throws {
        await propertyCheck(count: 20, input: Self.days) { steps in
            // propertyCheck runs its body under `try?`: a thrown error would pass unseen.
            guard let server = try? await TestServer() else {
                Issue.record("no test server")
                return
            }
            do {
                let kiosk = try TestKiosk(store: "store-1", kiosk: "a", server: server)
                let later = try ReplicaStore.open(
                    at: kiosk.store.path,
                    configuration: .init(now: { Date().addingTimeInterval(200 * 86_400) })
                )
                var ids: [ReturnID] = []
                var everything: [String: VersionedRecord] = [:]
                func saw(_ record: VersionedRecord?) throws {
                    guard let record else { return }
                    if var known = everything[record.id] {
                        try known.merge(record)
                        everything[record.id] = known
                    } else {
                        everything[record.id] = record
                    }
                }
                func held(_ store: ReplicaStore, _ id: ReturnID) throws -> VersionedRecord? {
                    try store.record(entityType: ReturnEntity.entityType, id: id.rawValue)
                }
                for step in steps {
                    let id = ids.isEmpty ? nil : ids[step.pick % ids.count]
                    switch step.action {
                    case 0:
                        ids.append(try kiosk.record(order: "O-\(ids.count)").id)
                    case 1:
                        if let id, try held(kiosk.store, id) != nil {
                            try? PruningTests.close(id, at: kiosk)
                        }
                    case 2:
                        if let id, try held(kiosk.store, id) != nil {
                            _ = try? kiosk.store.updateReturn(id, operation: "void") { item, author, date in
                                try item.void(note: "captured twice", by: author, at: date)
                            }
                        }
                    case 3:
                        try await kiosk.sync()
                    case 4:
                        if let id, try held(server.store, id) != nil {
                            _ = try server.store.updateReturn(id, operation: "note") { item, author, date in
                                try item.addNote("checked at HQ", by: author, at: date)
                            }
                        }
                    case 5:
                        try later.pruneAll()
                    default:
                        if let id, try held(server.store, id) != nil, try held(kiosk.store, id) == nil {
                            _ = try await kiosk.client.fetch([id])
                        }
                    }
                    // Every version either side holds now is part of the story; together they must tell all of it.
                    for id in ids {
                        let mine = try held(kiosk.store, id)
                        let theirs = try held(server.store, id)
                        try saw(mine)
                        try saw(theirs)
                        var together: VersionedRecord?
                        for version in [mine, theirs].compactMap({ $0 }) {
                            together = try together.map { try VersionedRecord.merge($0, version) } ?? version
                        }
                        #expect(together == everything[id.rawValue], "\(steps): \(id) after \(step)")
                    }
                }
                try await kiosk.sync()
                for id in ids {
                    let theirs = try held(server.store, id)
                    #expect(theirs == everything[id.rawValue], "\(steps): HQ lacks part of \(id)")
                    if let mine = try held(kiosk.store, id) {
                        #expect(mine == theirs, "\(steps): the kiosk's \(id) is not HQ's")
                    }
                }
            } catch {
                Issue.record("\(steps): \(error)")
            }
            try? await server.stop()
        }
    }
}
