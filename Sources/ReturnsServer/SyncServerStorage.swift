import Foundation
import ReplicaStore
import ReturnsModel
import SyncEngine

/// Everything the sync server needs from its storage, and nothing more.
///
/// `ReplicaStore` (SQLite) is the implementation today; a PostgreSQL backend for fleets that outgrow one machine
/// implements this same protocol. Every method is one transaction, durable when it returns.
public protocol SyncServerStorage: Sendable {
    /// The server's replica id, sent in challenges and bound into signatures.
    var serverReplicaID: ReplicaID { get }

    /// The enrolled kiosk with this replica id, if any.
    func enrolledKiosk(_ replicaID: String) throws -> KioskEnrollment?

    /// Redeems a one-time enrollment token (by its SHA-256) and records the kiosk's public key, atomically.
    func redeemEnrollment(tokenHash: String, store: StoreID, kiosk: KioskID, publicKey: Data) throws

    /// Merges a pushed batch all or nothing; throws ``PushRejection`` for a record that may not be stored.
    func acceptPush(_ records: [VersionedRecord], from pusher: ReplicaID, store: StoreID) throws -> PushOutcome

    /// The store's change feed after `cursor`, leaving out versions `requester` pushed and holds already; each
    /// record in its JSON form (Protocol/SPEC.md §6), sent as it is.
    func encodedFeed(
        store: StoreID,
        after cursor: Int64,
        limit: Int,
        requester: ReplicaID?
    ) throws -> (records: [String], next: Int64, more: Bool)

    /// Notes that a kiosk completed a sync.
    func noteSync(of replicaID: String) throws
}

extension ReplicaStore: SyncServerStorage {
    public var serverReplicaID: ReplicaID { identity.replicaID }
}
