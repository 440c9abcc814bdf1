import Crypto
import Foundation
import ReturnSyncJSON
import ReturnsModel
import ReturnsSync
import SyncEngine

/// A return's lifecycle as GS1 EPCIS 2.0 ObjectEvents (CBV 2.0 vocabulary), for retailers and brands that exchange
/// supply-chain events.
///
/// Each event is derived from the write that made it happen — the capture, the inspection, the routing, the recall
/// flag — and takes its time from that write's stamp and its id from that write's dot, so exporting the same
/// records twice yields the same events. Settled conflicts and voids become `errorDeclaration`s: the audit trail in
/// the standard's form.
public enum EPCISEvents {
    /// Where a store is: an EPCIS `bizLocation` id (a URI).
    public typealias Locations = @Sendable (StoreID) -> String

    /// A store as a location when nothing better is known: a URN of this deployment's store id.
    public static let storeURN: Locations = { "urn:returnsync:store:\($0.rawValue)" }

    /// The events of one return, in time order.
    ///
    /// - Parameters:
    ///   - record: the return's record, with every write's stamp and dot.
    ///   - timeZone: its store's zone: event times carry the store's offset.
    ///   - location: the store's `bizLocation` id.
    ///   - superseded: the step writes later writes replaced, as HQ kept them (``SupersededStep``): each is an
    ///     event too — the unit was restocked before a recall quarantined it.
    public static func events(
        of record: VersionedRecord,
        timeZone: StoreTimeZone = .utc,
        location: Locations = storeURN,
        superseded: [SupersededStep] = []
    ) throws -> [JSONValue] {
        let item = try ProductReturn(record: record)
        var events: [Event] = []
        let place = location(item.storeID)
        func event(_ step: Step, at stamp: HLCTimestamp, dot: Dot) -> Event {
            Event(
                step: step,
                time: stamp.physical,
                logical: UInt64(stamp.logical),
                dot: dot,
                returnID: item.id.rawValue
            )
        }

        // The capture: its time is the return's own creation time, its dot the creating write's.
        let created = record.visibleValue(of: ReturnEntity.Field.createdAt, policy: ReturnEntity.policy)
        let capture = Event(
            step: .receiving,
            time: UInt64(max(0, item.createdAt.millisecondsSince1970)),
            dot: try created?.dot ?? Dot(replica: ReplicaID("unknown"), counter: 0),
            returnID: item.id.rawValue
        )
        events.append(capture)

        // Fields whose values are steps; a settled conflict's replaced values were steps too, declared in error.
        for field in [ReturnEntity.Field.condition, ReturnEntity.Field.disposition] {
            guard let current = record.visibleValue(of: field, policy: ReturnEntity.policy),
                let step = Step(field: field, value: current.value, item: item)
            else { continue }
            events.append(event(step, at: current.stamp, dot: current.dot))
            for settled in record.conflictHistory where settled.field == field {
                // The settlement's own write is the corrective event (exported even if a later write followed it);
                // each concurrent value it replaced with another is an event declared in error. One that equals
                // the settled value was right: the corrective event tells it.
                let resolved = Step(field: field, value: settled.resolution.value, item: item)
                let corrective = resolved.map { event($0, at: settled.resolution.stamp, dot: settled.resolution.dot) }
                if let corrective { events.append(corrective) }
                for replaced in settled.replaced where replaced.value != settled.resolution.value {
                    guard let wrong = Step(field: field, value: replaced.value, item: item) else { continue }
                    var declared = event(wrong, at: replaced.stamp, dot: replaced.dot)
                    declared.error = ErrorDeclaration(
                        time: settled.resolution.stamp.physical,
                        reason: "incorrect_data",
                        corrective: corrective.map { [$0.id] } ?? []
                    )
                    events.append(declared)
                }
            }
        }
        // Steps a later write of the same field replaced: they happened, and stay in the story.
        for step in superseded where step.returnID == record.id {
            guard let replaced = Step(field: step.field, value: .string(step.value), item: item) else { continue }
            events.append(event(replaced, at: step.stamp, dot: step.dot))
        }
        // A vendor shipment: the unit leaves for the vendor under its RMA.
        if let shipment = item.vendorShipment,
            let written = record.visibleValue(of: ReturnEntity.Field.rmaNumber, policy: ReturnEntity.policy)
        {
            events.append(event(.vendorShipment(rma: shipment.rma), at: written.stamp, dot: written.dot))
        }
        // A void says the capture did not happen.
        if item.status == .voided,
            let void = record.visibleValue(of: ReturnEntity.Field.status, policy: ReturnEntity.policy)
        {
            events[0].error = ErrorDeclaration(time: void.stamp.physical, reason: "did_not_occur", corrective: [])
        }
        // One event per id: the same write can yield only one step per kind.
        var seen = Set<String>()
        return
            events
            .filter { seen.insert($0.id).inserted }
            // Within a millisecond, the hybrid logical clock's count orders a replica's writes as they were made.
            .sorted { ($0.time, $0.logical, $0.id) < ($1.time, $1.logical, $1.id) }
            .map { $0.json(item: item, timeZone: timeZone, location: place) }
    }

    /// An EPCIS 2.0 document holding `events`, created at `creationDate`.
    public static func document(_ events: [JSONValue], creationDate: Date) -> JSONValue {
        .object([
            "@context": .array([.string("https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld")]),
            "type": .string("EPCISDocument"),
            "schemaVersion": .string("2.0"),
            "creationDate": .string(ISO8601Milliseconds.format(creationDate)),
            "epcisBody": .object(["eventList": .array(events)]),
        ])
    }

    /// The time an event took effect or was declared in error, for `--since`: the later of the two.
    public static func latestTime(of event: JSONValue) -> Date? {
        let times = [event["eventTime"], event["errorDeclaration"]?["declarationTime"]].compactMap {
            $0?.stringValue.flatMap(ISO8601Milliseconds.parse)
        }
        return times.max()
    }

    // MARK: - Steps

    /// What a write did to the unit, in CBV terms.
    enum Step: Hashable {
        case receiving
        case inspecting(disposition: String)
        case routed(bizStep: String, disposition: String?)
        case recallHold(certain: Bool)
        case vendorShipment(rma: String)

        /// The step a field's value stands for; `nil` for a value that is no step (undecided, not inspected).
        init?(field: String, value: FieldValue, item: ProductReturn) {
            guard case .string(let text) = value else { return nil }
            switch field {
            case ReturnEntity.Field.condition:
                guard let condition = ItemCondition(rawValue: text), condition != .unknown else { return nil }
                switch condition {
                case .damaged, .hazardous: self = .inspecting(disposition: "damaged")
                case .defective, .incomplete: self = .inspecting(disposition: "non_conformant")
                default:
                    self = .inspecting(disposition: item.testResult == .fail ? "non_conformant" : "conformant")
                }
            case ReturnEntity.Field.disposition:
                switch Disposition(rawValue: text) {
                case .restock?: self = .routed(bizStep: "stocking", disposition: "sellable_accessible")
                case .repackage?: self = .routed(bizStep: "repackaging", disposition: "sellable_accessible")
                case .repair?: self = .routed(bizStep: "repairing", disposition: "non_sellable_other")
                case .recycle?: self = .routed(bizStep: "destroying", disposition: "disposed")
                case .dispose?: self = .routed(bizStep: "destroying", disposition: "destroyed")
                // Held in the store's custody: under a recall (certain match) recalled for good; otherwise held for a
                // check. A unit restocked before its recall is not in custody: no event claims it is (it is a
                // recall alert).
                case .quarantine?: self = .recallHold(certain: item.recallMatch == .certain)
                // The shipment event says it, once the RMA is known.
                case .returnToVendor?, .undecided?, nil: return nil
                }
            default:
                return nil
            }
        }

        /// A short name, part of the event's id.
        var kind: String {
            switch self {
            case .receiving: "receiving"
            case .inspecting: "inspecting"
            case .routed(let step, _): step
            case .recallHold: "recall"
            case .vendorShipment: "shipping"
            }
        }
    }

    struct ErrorDeclaration {
        var time: UInt64
        var reason: String
        var corrective: [String]
    }

    struct Event {
        var step: Step
        /// Milliseconds since 1970.
        var time: UInt64
        /// The write's hybrid-logical-clock count within ``time`` (0 for the capture, the return's first write).
        var logical: UInt64
        var error: ErrorDeclaration?
        /// A UUID URN named by the return, the step and the write (RFC 9562 version 8, from SHA-256): the same
        /// write always names the same event.
        let id: String

        init(step: Step, time: UInt64, logical: UInt64 = 0, dot: Dot, returnID: String) {
            self.step = step
            self.time = time
            self.logical = logical
            var b = Array(SHA256.hash(data: Data("\(returnID)|\(step.kind)|\(dot)".utf8)).prefix(16))
            b[6] = (b[6] & 0x0F) | 0x80
            b[8] = (b[8] & 0x3F) | 0x80
            let uuid = UUID(
                uuid: (
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
                )
            )
            id = "urn:uuid:" + uuid.uuidString.lowercased()
        }

        func json(item: ProductReturn, timeZone: StoreTimeZone, location: String) -> JSONValue {
            var event: [String: JSONValue] = [
                "type": .string("ObjectEvent"),
                "eventID": .string(id),
                "action": .string("OBSERVE"),
                "eventTime": .string(EPCISTime.format(milliseconds: Int64(time), in: timeZone)),
                "eventTimeZoneOffset": .string(EPCISTime.offset(at: Int64(time), in: timeZone)),
                "bizLocation": .object(["id": .string(location)]),
                "readPoint": .object(["id": .string(location)]),
            ]
            let product = EPCISIdentifiers.product(of: item)
            for (key, value) in product { event[key] = value }
            switch step {
            case .receiving:
                event["bizStep"] = .string("receiving")
                event["disposition"] = .string("returned")
            case .inspecting(let disposition):
                event["bizStep"] = .string("inspecting")
                event["disposition"] = .string(disposition)
            case .routed(let bizStep, let disposition):
                event["bizStep"] = .string(bizStep)
                if let disposition { event["disposition"] = .string(disposition) }
            case .recallHold(let certain):
                event["bizStep"] = .string("holding")
                event["disposition"] = .string(certain ? "recalled" : "non_sellable_other")
                if certain { event["persistentDisposition"] = .object(["set": .array([.string("recalled")])]) }
            case .vendorShipment(let rma):
                event["bizStep"] = .string("shipping")
                event["disposition"] = .string("in_transit")
                event["bizTransactionList"] = .array([
                    .object(["type": .string("rma"), "bizTransaction": .string(EPCISIdentifiers.rma(rma))])
                ])
            }
            if let error {
                var declaration: [String: JSONValue] = [
                    "declarationTime": .string(EPCISTime.format(milliseconds: Int64(error.time), in: timeZone)),
                    "reason": .string(error.reason),
                ]
                if !error.corrective.isEmpty {
                    declaration["correctiveEventIDs"] = .array(error.corrective.map(JSONValue.string))
                }
                event["errorDeclaration"] = .object(declaration)
            }
            return .object(event)
        }
    }
}
