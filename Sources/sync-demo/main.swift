// A walk through the sync engine: two kiosks of one store and HQ edit one return while apart, then exchange
// versions in different orders and converge on the same record, with the disposition conflict resolved
// safety-first and kept in the history once HQ settles it.
//
// Everything runs in memory with a simulated wall clock; the replica store and the network come later.

import Foundation
import ReturnsModel
import ReturnsSync
import SyncEngine

struct DemoReplica {
    let id: ReplicaID
    var hlc = HybridLogicalClock()
    var record: VersionedRecord?

    init(_ name: String) throws { id = try ReplicaID(name) }

    mutating func stamp(at wallClock: UInt64) throws -> HLCTimestamp { try hlc.tick(wallClock: wallClock) }

    /// Takes in another replica's version, as a sync would.
    mutating func receive(_ remote: VersionedRecord) throws -> MergeOutcome {
        if let stamp = remote.latestStamp { hlc.witness(stamp) }
        guard var local = record else {
            record = remote
            return MergeOutcome(changed: true, detectedConflicts: [])
        }
        let outcome = try local.merge(remote)
        record = local
        return outcome
    }

    func show() throws {
        guard let record else { return print("  \(id): (no copy)") }
        let item = try ProductReturn(record: record)
        let conflicts = record.openConflicts(policy: ReturnEntity.policy)
            .map { "\($0.field) {\($0.values.map(\.description).joined(separator: ", "))}" }
        print(
            "  \(id.rawValue.padding(toLength: 18, withPad: " ", startingAt: 0)) clock \(record.clock)  "
                + "status \(item.status.rawValue)  disposition \(item.disposition.rawValue)  "
                + "conflicts [\(conflicts.joined(separator: "; "))]  notes \(item.notes.count)"
        )
    }
}

var wallClock: UInt64 = 1_780_000_000_000
@MainActor func tick() -> UInt64 {
    wallClock += 1_000
    return wallClock
}

var kioskA = try DemoReplica("store-12/kiosk-a")
var kioskB = try DemoReplica("store-12/kiosk-b")
var hq = try DemoReplica("hq")

print("1. Kiosk A captures a return of a cordless drill (EAN 4006381333931) and inspects it.")
let item = try ProductReturn(
    id: ReturnID.make(at: Date(millisecondsSince1970: Int64(wallClock))),
    storeID: StoreID("store-12"),
    kioskID: KioskID("kiosk-a"),
    orderID: OrderID("ORD-88123"),
    gtin: GTIN("4006381333931"),
    serial: ItemCode("SN-0042", kind: "serial"),
    reason: .defective,
    createdAt: Date(millisecondsSince1970: Int64(wallClock))
)
kioskA.record = try ReturnEntity.makeRecord(for: item, by: kioskA.id, stamp: kioskA.stamp(at: tick()))
try kioskA.record!.updateReturn(by: kioskA.id, stamp: kioskA.stamp(at: tick())) { item, author, date in
    try item.inspect(condition: .defective, testResult: .fail, note: "motor stalls under load", by: author, at: date)
}
try kioskA.show()

print("\n2. Kiosk A syncs with HQ; kiosk B gets the return from HQ. Then the store network goes down.")
_ = try hq.receive(kioskA.record!)
_ = try kioskB.receive(hq.record!)
try kioskA.show()
try kioskB.show()
try hq.show()

print("\n3. Offline, each picks a different disposition; kiosk B also adds a note.")
try kioskA.record!.updateReturn(by: kioskA.id, stamp: kioskA.stamp(at: tick())) { item, author, date in
    try item.assignDisposition(.repair, by: author, at: date)
}
try kioskB.record!.updateReturn(by: kioskB.id, stamp: kioskB.stamp(at: tick())) { item, author, date in
    try item.assignDisposition(.returnToVendor, note: "vendor pays for defects", by: author, at: date)
}
try hq.record!.updateReturn(by: hq.id, stamp: hq.stamp(at: tick())) { item, author, date in
    try item.assignDisposition(.recycle, by: author, at: date)
}
try kioskA.show()
try kioskB.show()
try hq.show()

print("\n4. The network is back. Versions are exchanged in different orders, one of them twice.")
let (versionA, versionB, versionHQ) = (kioskA.record!, kioskB.record!, hq.record!)
let detected = try hq.receive(versionB).detectedConflicts + hq.receive(versionA).detectedConflicts
_ = try hq.receive(versionA)  // a duplicate delivery changes nothing
_ = try kioskA.receive(versionHQ)
_ = try kioskA.receive(versionB)
_ = try kioskB.receive(kioskA.record!)
print("   HQ detected conflicts on: \(Set(detected).sorted().joined(separator: ", "))")
try kioskA.show()
try kioskB.show()
try hq.show()
print("   All three identical: \(kioskA.record == kioskB.record && kioskB.record == hq.record)")
print("   Safety first: recycle beats return-to-vendor and repair while the conflict is open.")

print("\n5. HQ, having seen all three values, settles on return-to-vendor; the kiosks sync again.")
try hq.record!.updateReturn(by: hq.id, stamp: hq.stamp(at: tick())) { item, author, date in
    try item.assignDisposition(.returnToVendor, note: "vendor RMA 7781 approved", by: author, at: date)
}
_ = try kioskA.receive(hq.record!)
_ = try kioskB.receive(hq.record!)
try kioskA.show()
try kioskB.show()
try hq.show()
for entry in hq.record!.conflictHistory {
    print(
        "   history: \(entry.field) replaced {\(entry.replaced.map(\.description).joined(separator: ", "))} "
            + "with \(entry.resolution)"
    )
}
let converged = kioskA.record == kioskB.record && kioskB.record == hq.record
print("   All three identical: \(converged)")
exit(converged ? 0 : 1)
