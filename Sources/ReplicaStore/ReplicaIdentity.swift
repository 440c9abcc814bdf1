import Foundation
import ReturnsModel
import SyncEngine

/// Who a replica is: its replica id and, for a kiosk, its store and kiosk ids.
public struct ReplicaIdentity: Hashable, Sendable {
    /// What kind of replica this is.
    public enum Role: String, Hashable, Sendable {
        /// A store kiosk: holds its own store's returns.
        case kiosk
        /// The central server: holds every store's returns.
        case server
    }

    /// The replica id used in clocks and dots: `STORE/KIOSK` for a kiosk.
    public let replicaID: ReplicaID
    /// What kind of replica this is.
    public let role: Role
    /// The kiosk's store; `nil` for the server.
    public let storeID: StoreID?
    /// The kiosk's id within its store; `nil` for the server.
    public let kioskID: KioskID?
    /// When the replica was initialised.
    public let createdAt: Date

    /// The identity of kiosk `kiosk` of store `store`, whose replica id is `store/kiosk`.
    public static func kiosk(store: StoreID, kiosk: KioskID, createdAt: Date = Date()) throws -> ReplicaIdentity {
        ReplicaIdentity(
            replicaID: try ReplicaID("\(store.rawValue)/\(kiosk.rawValue)"),
            role: .kiosk,
            storeID: store,
            kioskID: kiosk,
            createdAt: createdAt
        )
    }

    /// The identity of the central server, replica id `hq` unless told otherwise.
    public static func server(replicaID: ReplicaID, createdAt: Date = Date()) -> ReplicaIdentity {
        ReplicaIdentity(replicaID: replicaID, role: .server, storeID: nil, kioskID: nil, createdAt: createdAt)
    }

    /// Creates an identity from its parts.
    public init(replicaID: ReplicaID, role: Role, storeID: StoreID?, kioskID: KioskID?, createdAt: Date) {
        self.replicaID = replicaID
        self.role = role
        self.storeID = storeID
        self.kioskID = kioskID
        self.createdAt = createdAt
    }
}
