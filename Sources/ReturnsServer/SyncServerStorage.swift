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

    /// Redeems the kiosk's pending enrollment token when `proves` accepts the token's public key, and records the
    /// kiosk's public key (replacing an earlier one, lifting a revocation), atomically.
    func redeemEnrollment(store: StoreID, kiosk: KioskID, publicKey: Data, proves: (_ tokenKey: Data) -> Bool) throws

    /// Records a new enrollment token for a kiosk — its hash and the public key it derives, never the secret —
    /// valid until `expiresAt`; the kiosk's earlier unused tokens stop working.
    func createEnrollment(tokenHash: String, tokenKey: Data, store: StoreID, kiosk: KioskID, expiresAt: Date) throws

    /// The replica ids of revoked kiosks: the server closes their connections.
    func revokedKiosks() throws -> Set<String>

    /// The seed of the server's Ed25519 identity key, made on first use.
    func serverIdentitySeed() throws -> Data

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

    /// About how many records of the store's feed wait after `cursor` (at least as many as the feed will send), for
    /// a kiosk's progress display.
    func feedEstimate(store: StoreID, after cursor: Int64) throws -> Int

    /// Notes that a kiosk completed a sync.
    func noteSync(of replicaID: String) throws

    /// The latest change's sequence number: grows with every committed change, by this process or another (an HQ
    /// command), so the server learns of changes to push live to watching kiosks. Also the health check's read.
    func lastChangeSeq() throws -> Int64

    /// The storage's size on disk in bytes, for the database-size metric.
    func storageSize() throws -> Int64
}

extension ReplicaStore: SyncServerStorage {
    public var serverReplicaID: ReplicaID { identity.replicaID }
}
