import NIOCore
import Synchronization

/// The server's connections and the limits that keep strangers from crowding out kiosks.
///
/// - At most `maximum` connections in all; one more is refused (`server-busy`) only when every connection is
///   authenticated — otherwise the oldest unauthenticated connection is closed to make room.
/// - Unauthenticated connections (before `welcome`) may take at most `maximumUnauthenticated` slots, and
///   `maximumUnauthenticatedPerAddress` from one source address: beyond either, the oldest such connection is
///   closed. Authenticated kiosks therefore always have the rest, and a flood of anonymous connections only
///   pushes out its own.
/// - One kiosk holds at most `maximumPerKiosk` authenticated connections: a new one closes its oldest (a kiosk
///   reconnecting after a network fault must not wait for its half-open connections to time out).
final class ConnectionRegistry: Sendable {
    /// The limits.
    struct Limits: Sendable {
        var maximum: Int
        var maximumUnauthenticated: Int
        var maximumUnauthenticatedPerAddress: Int
        var maximumPerKiosk: Int
    }

    private struct Entry {
        let channel: any Channel
        let address: String
        var kiosk: String?
    }

    private struct State {
        var next = 0
        /// By id; ids grow, so the smallest id of a kind is its oldest connection.
        var entries: [Int: Entry] = [:]
        var unauthenticated = 0
        var unauthenticatedByAddress: [String: Int] = [:]
        var byKiosk: [String: [Int]] = [:]
    }

    let limits: Limits
    private let state = Mutex(State())

    init(limits: Limits) {
        self.limits = limits
    }

    /// The connections open now.
    var count: Int { state.withLock { $0.entries.count } }

    /// Registers a new, unauthenticated connection from `address`.
    ///
    /// - Returns: its id, or `nil` when the server is full of authenticated connections; and the connections to
    ///   close to make room (oldest unauthenticated first), which are no longer registered.
    func admit(_ channel: any Channel, address: String) -> (id: Int?, shed: [any Channel]) {
        state.withLock { state in
            var shed: [any Channel] = []
            func shedOldestUnauthenticated(from address: String?) -> Bool {
                let oldest = state.entries.filter {
                    $0.value.kiosk == nil && (address == nil || $0.value.address == address)
                }
                .min { $0.key < $1.key }
                guard let (id, entry) = oldest else { return false }
                Self.remove(id, from: &state)
                shed.append(entry.channel)
                return true
            }
            if (state.unauthenticatedByAddress[address] ?? 0) >= limits.maximumUnauthenticatedPerAddress {
                _ = shedOldestUnauthenticated(from: address)
            }
            if state.unauthenticated >= limits.maximumUnauthenticated {
                _ = shedOldestUnauthenticated(from: nil)
            }
            if state.entries.count >= limits.maximum, !shedOldestUnauthenticated(from: nil) {
                return (nil, shed)
            }
            state.next += 1
            state.entries[state.next] = Entry(channel: channel, address: address, kiosk: nil)
            state.unauthenticated += 1
            state.unauthenticatedByAddress[address, default: 0] += 1
            return (state.next, shed)
        }
    }

    /// Marks connection `id` authenticated as `kiosk`.
    ///
    /// - Returns: `false` when the connection was shed meanwhile (the caller ends it); and the kiosk's oldest
    ///   connections to close, beyond its limit.
    func authenticated(_ id: Int, as kiosk: String) -> (registered: Bool, shed: [any Channel]) {
        state.withLock { state in
            guard var entry = state.entries[id], entry.kiosk == nil else { return (false, []) }
            entry.kiosk = kiosk
            state.entries[id] = entry
            Self.countUnauthenticated(-1, entry.address, in: &state)
            state.byKiosk[kiosk, default: []].append(id)
            var shed: [any Channel] = []
            while let ids = state.byKiosk[kiosk], ids.count > limits.maximumPerKiosk, let oldest = ids.first {
                if let closing = state.entries[oldest] { shed.append(closing.channel) }
                Self.remove(oldest, from: &state)
            }
            return (true, shed)
        }
    }

    /// Whether any connection has authenticated.
    var hasAuthenticated: Bool { state.withLock { !$0.byKiosk.isEmpty } }

    /// The authenticated connections of `kiosks` (replica ids).
    func connections(of kiosks: Set<String>) -> [any Channel] {
        state.withLock { state in
            kiosks.flatMap { kiosk in (state.byKiosk[kiosk] ?? []).compactMap { state.entries[$0]?.channel } }
        }
    }

    /// Forgets connection `id` (it ended, or was shed already).
    func remove(_ id: Int) {
        state.withLock { state in Self.remove(id, from: &state) }
    }

    private static func remove(_ id: Int, from state: inout State) {
        guard let entry = state.entries.removeValue(forKey: id) else { return }
        if let kiosk = entry.kiosk {
            state.byKiosk[kiosk]?.removeAll { $0 == id }
            if state.byKiosk[kiosk]?.isEmpty ?? false { state.byKiosk[kiosk] = nil }
        } else {
            countUnauthenticated(-1, entry.address, in: &state)
        }
    }

    private static func countUnauthenticated(_ delta: Int, _ address: String, in state: inout State) {
        state.unauthenticated += delta
        let count = (state.unauthenticatedByAddress[address] ?? 0) + delta
        state.unauthenticatedByAddress[address] = count > 0 ? count : nil
    }
}
