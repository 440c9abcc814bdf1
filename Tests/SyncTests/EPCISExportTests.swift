import EPCISExport
import Foundation
import ReplicaStore
import ReturnSyncJSON
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsServer
import ReturnsSync
import SyncEngine
import Testing

@testable import ReturnsServerCLI

/// GS1's reference files (schema and examples), kept beside the repository: `../shared/epcis/`, or where
/// `$RETURNSYNC_EPCIS_DIR` says.
enum EPCISReference {
    static let directory: String? = {
        if let given = ProcessInfo.processInfo.environment["RETURNSYNC_EPCIS_DIR"], !given.isEmpty { return given }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.deletingLastPathComponent().appendingPathComponent("shared/epcis").path
    }()
    static var schema: String? {
        directory.map { "\($0)/EPCIS-JSON-Schema.json" }.flatMap {
            FileManager.default.fileExists(atPath: $0) ? $0 : nil
        }
    }
    static var available: Bool {
        schema != nil
            && (try? ChildProcess("/usr/bin/env", ["python3", "-c", "import jsonschema, rfc3987"], output: .discard)
                .waitUntilExit()
                .status)
                == 0
    }

    /// The schema's verdict on the document at `path`: the errors, one a line; empty when it is valid.
    static func errors(validating path: String) async throws -> String {
        let script = """
            import json, sys
            from jsonschema import Draft7Validator
            schema = json.load(open(sys.argv[1]))
            document = json.load(open(sys.argv[2]))
            # Without the "uri" format checked, any string passes for a CBV value (the schema allows URIs there).
            assert "uri" in Draft7Validator.FORMAT_CHECKER.checkers, "pip install rfc3987"
            validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
            for error in validator.iter_errors(document):
                print(list(error.absolute_path), error.message[:300])
            """
        let schema = schema!
        let (output, end) = try await offThePool {
            let child = try ChildProcess("/usr/bin/env", ["python3", "-c", script, schema, path])
            let output = child.standardOutput!.readDataToEndOfFile()
            return (output, child.waitUntilExit())
        }
        let text = String(decoding: output, as: UTF8.self)
        return end.status == 0 ? text : "python3 ended with \(end): \(text)"
    }
}

/// The returns' story in GS1 EPCIS 2.0: every event valid against GS1's official schema, the same events on every
/// export, each return's steps in order, settled conflicts and voids as error declarations.
@Suite(
    .enabled(
        if: EPCISReference.available,
        "needs GS1's schema in ../shared/epcis (or $RETURNSYNC_EPCIS_DIR) and python3 with jsonschema and rfc3987"
    )
)
struct EPCISExportTests {
    struct Day {
        let directory: TemporaryDirectory
        let server: ReplicaStore
        var names: [String: String] = [:]

        init() throws {
            directory = try TemporaryDirectory()
            server = try ReplicaStore.create(
                at: directory.file("hq.sqlite"),
                identity: .server(replicaID: ReplicaID("hq"))
            )
            try server.write(
                .setStore(StoreID("north"), timeZone: StoreTimeZone("Europe/Berlin"), gln: GLN("4012345000009"))
            )
            let north1 = try kiosk("north", "k1")
            let north2 = try kiosk("north", "k2")
            func capture(
                _ name: String,
                _ kiosk: ReplicaStore,
                _ gtin: String,
                serial: String? = nil,
                lot: String? = nil,
                quantity: Int = 1
            ) throws -> ReturnID {
                let item = try kiosk.recordReturn(
                    ReturnCapture(
                        orderID: OrderID("O-\(name)"),
                        gtin: GTIN(gtin),
                        reason: .defective,
                        serial: serial.map { try ItemCode($0, kind: "serial") },
                        lot: lot.map { try ItemCode($0, kind: "lot") },
                        quantity: quantity
                    )
                )
                names[item.id.rawValue] = name
                return item.id
            }
            func edit(
                _ kiosk: ReplicaStore,
                _ id: ReturnID,
                _ body: @escaping (inout ProductReturn, String, Date) throws -> ReturnUpdate
            ) throws {
                _ = try kiosk.updateReturn(id, operation: "edit", body)
            }
            let lamp = try capture("lamp", north1, "4006381333931", serial: "SN1/#7")
            try edit(north1, lamp) { try $0.inspect(condition: .unopened, testResult: .pass, by: $1, at: $2) }
            try edit(north1, lamp) { try $0.assignDisposition(.restock, by: $1, at: $2) }
            try edit(north1, lamp) { try $0.close(by: $1, at: $2) }
            _ = try capture("lamp-2", north1, "4006381333931", serial: "SN2")
            let drill = try capture("drill", north1, "5901234123457", lot: "L-7", quantity: 2)
            try edit(north1, drill) { try $0.inspect(condition: .damaged, by: $1, at: $2) }
            try edit(north1, drill) { try $0.assignDisposition(.returnToVendor, by: $1, at: $2) }
            try edit(north1, drill) { try $0.recordVendorShipment(VendorShipment(rma: "RMA-9"), by: $1, at: $2) }
            let kettle = try capture("kettle", north1, "9780201379624")
            try edit(north1, kettle) { try $0.void(note: "scanned twice", by: $1, at: $2) }
            let chair = try capture("chair", north1, "96385074")
            try edit(north1, chair) { try $0.inspect(condition: .defective, testResult: .fail, by: $1, at: $2) }
            // Routed, synced, then routed again: at the kiosk (the toaster) and by HQ (the fan).
            let toaster = try capture("toaster", north1, "4012345000016")
            try edit(north1, toaster) { try $0.inspect(condition: .unopened, testResult: .pass, by: $1, at: $2) }
            try edit(north1, toaster) { try $0.assignDisposition(.restock, by: $1, at: $2) }
            let fan = try capture("fan", north1, "4012345000023")
            try edit(north1, fan) { try $0.inspect(condition: .unopened, testResult: .pass, by: $1, at: $2) }
            try edit(north1, fan) { try $0.assignDisposition(.restock, by: $1, at: $2) }
            _ = try server.acceptPush(
                try north1.returnRecords(),
                from: north1.identity.replicaID,
                store: StoreID("north")
            )
            // The chair is routed at two desks at once: one disposes of it, the other recycles it; HQ settles.
            try north2.merge(try north1.returnRecord(chair))
            try edit(north1, chair) { try $0.assignDisposition(.dispose, by: $1, at: $2) }
            try edit(north2, chair) { try $0.assignDisposition(.recycle, by: $1, at: $2) }
            try edit(north1, toaster) { try $0.assignDisposition(.repair, by: $1, at: $2) }
            _ = try server.acceptPush(
                try north1.returnRecords(),
                from: north1.identity.replicaID,
                store: StoreID("north")
            )
            _ = try server.acceptPush(
                try north2.returnRecords(),
                from: north2.identity.replicaID,
                store: StoreID("north")
            )
            _ = try server.resolveConflict(chair, field: ReturnEntity.Field.disposition, value: "recycle")
            _ = try server.updateReturn(fan, operation: "disposition") {
                try $0.assignDisposition(.recycle, by: $1, at: $2)
            }
            // A recall of the lamps: the second, still at the desk, is held under it now.
            try server.write(
                .createRecall(
                    RecallCampaign(
                        id: "RC-1",
                        gtins: [GTIN("4006381333931")],
                        hazard: "cable",
                        instructions: "quarantine",
                        unitsAffected: 10,
                        createdAt: Date()
                    )
                )
            )
        }

        func kiosk(_ store: String, _ kiosk: String) throws -> ReplicaStore {
            try ReplicaStore.create(
                at: directory.file("\(store)-\(kiosk).sqlite"),
                identity: .kiosk(store: StoreID(store), kiosk: KioskID(kiosk))
            )
        }

        /// Runs `returns-server export epcis` and reads the document back.
        func export(
            _ extra: String...
        ) async throws -> (run: (status: Int32, stdout: String, stderr: String), document: [String: Any], path: String)
        {
            let path = directory.file("epcis-\(UUID().uuidString).jsonld")
            let run = await runCaptured {
                await ReturnsServerCLI.run(
                    arguments: ["export", "epcis", "--db", server.path, "--output", path] + extra
                )
            }
            let data = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data("{}".utf8)
            return (run, try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]), path)
        }
    }

    static func events(_ document: [String: Any]) -> [[String: Any]] {
        ((document["epcisBody"] as? [String: Any])?["eventList"] as? [[String: Any]]) ?? []
    }

    @Test func aStoreDayExportsAsValidEventsThatTellEachReturnsStory() async throws {
        let day = try Day()
        let (run, document, path) = try await day.export()
        #expect(run.status == 0, "\(run.stderr)")
        let verdict = try await EPCISReference.errors(validating: path)
        #expect(verdict == "", "the official schema's verdict")
        let events = Self.events(document)
        #expect(run.stdout.hasPrefix("\(events.count) EPCIS events of 7 returns written to "), "\(run.stdout)")

        func story(_ name: String) -> [String] {
            let id = day.names.first { $0.value == name }!.key
            let item = try! ProductReturn(record: day.server.returnRecord(ReturnID(id)))
            let product = item.serial.map {
                "https://id.gs1.org/01/\(item.gtin.digits)/21/" + EPCISIdentifiersProbe.encoded($0.rawValue)
            }
            return events.filter { event in
                if let product { return (event["epcList"] as? [String]) == [product] }
                let classes =
                    (event["quantityList"] as? [[String: Any]])?.compactMap { $0["epcClass"] as? String } ?? []
                return classes.contains { $0.hasPrefix("https://id.gs1.org/01/\(item.gtin.digits)") }
            }.map { event in
                [
                    event["bizStep"] as? String, event["disposition"] as? String,
                    (event["errorDeclaration"] as? [String: Any])?["reason"] as? String,
                ].compactMap { $0 }.joined(separator: " ")
            }
        }
        #expect(
            story("lamp") == ["receiving returned", "inspecting conformant", "stocking sellable_accessible"],
            "back on the shelf before the recall: a recall alert, not in the store's custody"
        )
        #expect(story("lamp-2") == ["receiving returned", "holding recalled"])
        // Steps a later write replaced stay in the story: HQ kept them as the versions arrived.
        #expect(
            story("toaster") == [
                "receiving returned", "inspecting conformant", "stocking sellable_accessible",
                "repairing non_sellable_other",
            ]
        )
        #expect(
            story("fan") == [
                "receiving returned", "inspecting conformant", "stocking sellable_accessible", "destroying disposed",
            ]
        )
        #expect(story("drill") == ["receiving returned", "inspecting damaged", "shipping in_transit"])
        #expect(story("kettle") == ["receiving returned did_not_occur"])
        #expect(
            story("chair").sorted()
                == [
                    "destroying destroyed incorrect_data", "destroying disposed", "inspecting non_conformant",
                    "receiving returned",
                ]
        )
        // The chair's disposal declared in error names the recycling that corrects it.
        let wrong = try #require(events.first { ($0["disposition"] as? String) == "destroyed" })
        let recycled = try #require(events.first { ($0["disposition"] as? String) == "disposed" })
        let declaration = try #require(wrong["errorDeclaration"] as? [String: Any])
        #expect(declaration["correctiveEventIDs"] as? [String] == [recycled["eventID"] as! String])
        // The drill: two units of a lot, shipped under its RMA; the lamp held as recalled for good.
        let shipped = try #require(events.first { ($0["bizStep"] as? String) == "shipping" })
        #expect(
            (shipped["quantityList"] as? [[String: Any]])?.first?["epcClass"] as? String
                == "https://id.gs1.org/01/05901234123457/10/L-7"
        )
        #expect((shipped["quantityList"] as? [[String: Any]])?.first?["quantity"] as? Int == 2)
        #expect((shipped["bizTransactionList"] as? [[String: Any]])?.first?["type"] as? String == "rma")
        let held = try #require(events.first { ($0["bizStep"] as? String) == "holding" })
        #expect((held["persistentDisposition"] as? [String: Any])?["set"] as? [String] == ["recalled"])
        // Times at the store: Berlin in winter.
        #expect(events.allSatisfy { ($0["eventTimeZoneOffset"] as? String) == "+01:00" })
        #expect(events.allSatisfy { ($0["eventTime"] as? String)?.hasSuffix("+01:00") == true })
        #expect(
            events.allSatisfy {
                ($0["bizLocation"] as? [String: Any])?["id"] as? String == "https://id.gs1.org/414/4012345000009"
            }
        )
    }

    @Test func exportingTwiceYieldsTheSameEvents() async throws {
        let day = try Day()
        let first = try await day.export()
        let second = try await day.export()
        let ids = Self.events(first.document).compactMap { $0["eventID"] as? String }
        #expect(ids.count == Set(ids).count && ids.count > 10, "every event its own id")
        #expect(
            try JSONSerialization.data(withJSONObject: Self.events(first.document), options: .sortedKeys)
                == JSONSerialization.data(withJSONObject: Self.events(second.document), options: .sortedKeys)
        )
        // --since keeps what happened (or was declared in error) from then on; nothing is that new.
        let later = try await day.export("--since", "2099-01-01T00:00:00Z")
        #expect(later.run.status == 0 && Self.events(later.document).isEmpty, "\(later.run.stderr)")
        let bad = try await day.export("--since", "yesterday")
        #expect(bad.run.status == 1 && bad.run.stderr.contains("invalid --since 'yesterday'"), "\(bad.run.stderr)")
    }
}

/// Events of a return on their own, without GS1's schema at hand.
@Suite struct EPCISEventTests {
    /// A kiosk of store `south` whose wall clock stands at 2026-12-03 23:30 UTC: every write in one millisecond.
    static func kioskOfStoppedClock(in directory: TemporaryDirectory) throws -> ReplicaStore {
        try ReplicaStore.create(
            at: directory.file("k.sqlite"),
            identity: .kiosk(store: StoreID("south"), kiosk: KioskID("k1")),
            configuration: ReplicaStore.Configuration(now: { Date(millisecondsSince1970: 1_796_340_600_000) })
        )
    }

    @Test func aStoreWithoutAGLNIsPlacedByItsIDAndUTCTimes() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kioskOfStoppedClock(in: directory)
        let item = try kiosk.recordReturn(
            ReturnCapture(orderID: OrderID("O-1"), gtin: GTIN("96385074"), reason: .damaged, quantity: 3)
        )
        let events = try EPCISEvents.events(of: kiosk.returnRecord(item.id))
        #expect(events.count == 1)
        let capture = try #require(events.first)
        #expect(capture["bizLocation"]?["id"]?.stringValue == "urn:returnsync:store:south")
        #expect(capture["eventTime"]?.stringValue == "2026-12-03T23:30:00.000+00:00")
        #expect(capture["eventTimeZoneOffset"]?.stringValue == "+00:00")
        // No serial, no lot: the product class and the quantity.
        #expect(
            capture["quantityList"]
                == .array([
                    .object(["epcClass": .string("https://id.gs1.org/01/00000096385074"), "quantity": .integer(3)])
                ])
        )
        // The same write, the same event.
        #expect(try EPCISEvents.events(of: kiosk.returnRecord(item.id)) == events)
    }

    /// Writes made within one millisecond (a fast desk, a stopped clock) keep the order they were made in: the
    /// hybrid logical clock counts them. Ordered by event id after the time, as before, these came out shuffled.
    @Test func stepsOfOneMillisecondKeepTheOrderTheyWereMadeIn() throws {
        let directory = try TemporaryDirectory()
        let kiosk = try Self.kioskOfStoppedClock(in: directory)
        for order in 1...8 {
            let item = try kiosk.recordReturn(
                ReturnCapture(orderID: OrderID("O-\(order)"), gtin: GTIN("96385074"), reason: .damaged)
            )
            _ = try kiosk.updateReturn(item.id, operation: "inspect") {
                try $0.inspect(condition: .unopened, testResult: .pass, by: $1, at: $2)
            }
            _ = try kiosk.updateReturn(item.id, operation: "disposition") {
                try $0.assignDisposition(.restock, by: $1, at: $2)
            }
            let steps = try EPCISEvents.events(of: kiosk.returnRecord(item.id)).map { $0["bizStep"]?.stringValue }
            #expect(steps == ["receiving", "inspecting", "stocking"], "return \(order)")
        }
    }
}

/// An export of more returns than one page: every return's events, once, in a well-formed document.
@Suite struct EPCISPagingTests {
    @Test func everyPageOfReturnsIsExportedOnce() async throws {
        let directory = try TemporaryDirectory()
        let server = try ReplicaStore.create(
            at: directory.file("hq.sqlite"),
            identity: .server(replicaID: ReplicaID("hq"))
        )
        let kiosk = try ReplicaStore.create(
            at: directory.file("kiosk.sqlite"),
            identity: .kiosk(store: StoreID("s1"), kiosk: KioskID("k1"))
        )
        let count = EPCISExportStream.pageSize * 2 + 3
        let lines = (0..<count).map { index in
            #"{"orderId":"O-\#(index)","gtin":"96385074","reason":"damaged"}"#
        }
        _ = try kiosk.importReturns(ndjson: Data(lines.joined(separator: "\n").utf8))
        let records = try kiosk.returnRecords()
        for start in stride(from: 0, to: records.count, by: 500) {
            _ = try server.acceptPush(
                Array(records[start..<min(start + 500, records.count)]),
                from: ReplicaID("s1/k1"),
                store: StoreID("s1")
            )
        }
        let output = directory.file("all.jsonld")
        let run = await runCaptured {
            await ReturnsServerCLI.run(arguments: ["export", "epcis", "--db", server.path, "--output", output])
        }
        #expect(run.stdout.hasPrefix("\(count) EPCIS events of \(count) returns"), "\(run.stdout) \(run.stderr)")
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any]
        )
        #expect(document["type"] as? String == "EPCISDocument" && document["schemaVersion"] as? String == "2.0")
        let events = EPCISExportTests.events(document)
        #expect(Set(events.compactMap { $0["eventID"] as? String }).count == count, "each return's capture, once")
        // No temporary file left beside it.
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".part") } == []
        )
    }
}

/// The Digital Link encoding the export uses, as a test states it independently.
enum EPCISIdentifiersProbe {
    static func encoded(_ value: String) -> String {
        value.addingPercentEncoding(
            withAllowedCharacters: CharacterSet(
                charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
            )
        )!
    }
}
