import Foundation
import ReturnSyncTestSupport
import ReturnsModel
import ReturnsSync
import Testing

@Suite struct KioskCommandTests {
    /// The keys `--json` output promises.
    static let returnKeys: Set<String> = [
        "id", "storeId", "kioskId", "orderId", "gtin", "serial", "lot", "expiry", "quantity", "reason", "status",
        "condition",
        "testResult", "disposition", "notes", "createdAt", "updatedAt", "clock", "receipt", "verification",
        "exceptions", "review",
    ]

    private func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    @Test func aReturnWithoutReceiptIsRecordedAsSuchAndUnverifiedOffline() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let recorded = await kiosk.run(
            "record",
            "--order",
            "ORD-9",
            "--gtin",
            "4006381333931",
            "--reason",
            "damaged",
            "--no-receipt"
        )
        #expect(recorded.status == 0, "\(recorded.stderr)")
        let shown = try #require(try json(await kiosk.run("show", recorded.output, "--json").stdout) as? [String: Any])
        // Never synced: the kiosk holds no orders, so it cannot decide; the default policy needs no receipt.
        #expect(shown["receipt"] as? Bool == false)
        #expect(shown["verification"] as? String == "unverified")
        #expect((shown["exceptions"] as? [String])?.isEmpty == true)
        #expect(shown["review"] is NSNull)
        let details = await kiosk.run("show", recorded.output)
        #expect(details.stdout.contains("purchase     unverified, no receipt"))
    }

    @Test func aReturnGoesFromCaptureToClosedThroughTheCommands() async throws {
        let kiosk = try KioskHarness()
        #expect(await kiosk.run("init", "--store", "store-12", "--kiosk", "kiosk-a").status == 0)

        let recorded = await kiosk.run(
            "record",
            "--order",
            "ORD-7",
            "--gtin",
            "4006381333931",
            "--reason",
            "not-as-described",
            "--serial",
            "SN-1",
            "--lot",
            "L-2",
            "--quantity",
            "2",
            "--note",
            "box opened"
        )
        #expect(recorded.status == 0 && recorded.stderr.isEmpty)
        // The id alone, on one line.
        #expect(recorded.stdout.filter { $0 == "\n" }.count == 1)
        let id = recorded.output
        #expect(try ReturnID(id).rawValue == id)

        #expect(await kiosk.run("inspect", id, "--condition", "like-new", "--test", "pass").status == 0)
        #expect(await kiosk.run("disposition", id, "repackage", "--note", "new box").status == 0)
        #expect(await kiosk.run("note", id, "customer kept the cable").status == 0)
        #expect(await kiosk.run("close", id).status == 0)

        let shown = await kiosk.run("show", id, "--json")
        let document = try #require(try json(shown.stdout) as? [String: Any])
        #expect(Self.returnKeys.isSubset(of: Set(document.keys)))
        #expect(document["status"] as? String == "closed")
        #expect(document["disposition"] as? String == "repackage")
        #expect(document["condition"] as? String == "like-new" && document["testResult"] as? String == "pass")
        #expect(document["gtin"] as? String == "04006381333931")
        #expect(document["quantity"] as? Int == 2 && document["serial"] as? String == "SN-1")
        #expect(
            (document["notes"] as? [[String: Any]])?.compactMap { $0["text"] as? String } == [
                "box opened", "new box", "customer kept the cable",
            ]
        )
        #expect(document["clock"] as? [String: Int] == ["store-12/kiosk-a": 5])

        let human = await kiosk.run("show", id)
        #expect(human.stdout.contains("status       closed"))
    }

    @Test func recordTakesAGS1ScanAndChecksWhatIsTypedAgainstIt() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let recorded = await kiosk.run(
            "record",
            "--order",
            "A",
            "--reason",
            "recall",
            "--scan",
            "]C1010400638133393117271231<GS>10L42<GS>21SN7"
        )
        #expect(recorded.status == 0, "\(recorded.stderr)")
        let shown = try #require(try json(await kiosk.run("show", recorded.output, "--json").stdout) as? [String: Any])
        #expect(shown["gtin"] as? String == "04006381333931")
        #expect(shown["lot"] as? String == "L42" && shown["serial"] as? String == "SN7")
        #expect(shown["expiry"] as? String == "2027-12-31")

        let before = try kiosk.snapshot()
        let mismatch = await kiosk.run(
            "record",
            "--order",
            "A",
            "--reason",
            "recall",
            "--scan",
            "(01)04006381333931",
            "--gtin",
            "96385074"
        )
        #expect(mismatch.status == 1)
        #expect(mismatch.stderr == "error: --gtin '00000096385074' does not match the scanned GTIN '04006381333931'\n")
        let neither = await kiosk.run("record", "--order", "A", "--reason", "recall")
        #expect(neither.stderr.contains("give --gtin GTIN or --scan DATA"))
        #expect(try kiosk.snapshot() == before)
    }

    @Test func listFiltersAndPrintsOneJSONArray() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let damaged = await kiosk.run("record", "--order", "A", "--gtin", "96385074", "--reason", "damaged").output
        _ = await kiosk.run("record", "--order", "B", "--gtin", "96385074", "--reason", "recall")
        _ = await kiosk.run("inspect", damaged, "--condition", "damaged")

        let all = try #require(try json(await kiosk.run("list", "--json").stdout) as? [[String: Any]])
        #expect(all.count == 2)
        #expect(all.allSatisfy { Self.returnKeys.isSubset(of: Set($0.keys)) })
        let inspected = try #require(
            try json(await kiosk.run("list", "--status", "inspected", "--json").stdout) as? [[String: Any]]
        )
        #expect(inspected.map { $0["id"] as? String } == [damaged])
        let recalls = try #require(
            try json(await kiosk.run("list", "--reason", "recall", "--json").stdout) as? [[String: Any]]
        )
        #expect(recalls.map { $0["orderId"] as? String } == ["B"])
        #expect(try json(await kiosk.run("list", "--reason", "other", "--json").stdout) as? [Any] != nil)

        let table = await kiosk.run("list")
        #expect(table.stdout.hasPrefix("ID"))
        #expect(table.stdout.contains(damaged.prefix(8)) && table.stdout.contains("2 returns"))
    }

    /// `find` as staff type it: by serial, order, GTIN and day, a short id taken from its table used by the next
    /// command, and every bad value named.
    @Test func findSearchesAndItsShortIDsWorkWhereverAnIDIsTaken() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        var ids: [String] = []
        for (order, serial) in [("A", "SN-1"), ("A", "SN-2"), ("B", "SN-1")] {
            ids.append(
                await kiosk.run(
                    "record",
                    "--order",
                    order,
                    "--gtin",
                    "96385074",
                    "--serial",
                    serial,
                    "--reason",
                    "defective"
                ).output
            )
        }
        let found = await kiosk.run("find", "--serial", "SN-1")
        let lines = found.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 4 && lines.last == "2 returns", "\(found.stdout)")
        let shortIDs = lines.dropFirst().dropLast().map { String($0.prefix { $0 != " " }) }
        #expect(shortIDs.count == 2 && zip(shortIDs, [ids[0], ids[2]]).allSatisfy { $1.hasPrefix($0) })
        // Captured in the same second: more than eight characters are needed, and printed.
        #expect(shortIDs.allSatisfy { $0.count > 8 }, "\(shortIDs)")

        let short = shortIDs[1]
        #expect(
            await kiosk.run("inspect", short, "--condition", "defective").output
                == "\(ids[2]) inspected: condition defective, test not-tested"
        )
        #expect(
            await kiosk.run("disposition", short.uppercased(), "repair").output == "\(ids[2]) dispositioned: repair"
        )
        #expect(await kiosk.run("note", short, "customer called").status == 0)
        #expect(await kiosk.run("show", short, "--json").stdout.contains("\"id\" : \"\(ids[2])\""))
        let byOrder = try #require(
            try json(await kiosk.run("find", "--order", "A", "--gtin", "00000096385074", "--json").stdout)
                as? [[String: Any]]
        )
        #expect(byOrder.map { $0["id"] as? String } == [ids[0], ids[1]])
        let limited = await kiosk.run("find", "--order", "A", "--limit", "1")
        #expect(
            limited.output.hasSuffix("1 return (the oldest that match; more do: raise --limit or narrow the search)")
        )
        #expect(await kiosk.run("find", "--status", "dispositioned").output.hasSuffix("\n1 return"))
        let today = ISO8601Milliseconds.day(of: Date())
        #expect(await kiosk.run("find", "--since", today, "--until", today).output.hasSuffix("\n3 returns"))
        #expect(await kiosk.run("find", "--until", "2020-01-01").output.hasSuffix("\n0 returns"))

        let before = try kiosk.snapshot()
        let ambiguous = await kiosk.run("inspect", String(ids[0].prefix(8)), "--condition", "used")
        #expect(ambiguous.status == 1)
        #expect(ambiguous.stderr.hasPrefix("error: return id '\(ids[0].prefix(8))' is ambiguous: the ids of"))
        #expect(await kiosk.run("close", "ffffffff").stderr == "error: no return with id 'ffffffff'\n")
        #expect(await kiosk.run("void", "01a", "--note", "x").stderr.hasPrefix("error: invalid return id '01a'"))
        #expect(try kiosk.snapshot() == before)
        for (arguments, message) in [
            (["--serial", "has space"], "invalid serial 'has space'"),
            (["--gtin", "96385075"], "invalid GTIN '96385075'"),
            (["--status", "lost"], "invalid status 'lost'"),
            (["--since", "2026-13-01"], "invalid --since '2026-13-01': expected a day YYYY-MM-DD or an ISO 8601 time"),
            (["--until", "yesterday"], "invalid --until 'yesterday'"),
            (["--limit", "0"], "invalid --limit 0: expected 1 or more"),
            (
                ["--since", "2026-12-02", "--until", "2026-12-01"],
                "--since 2026-12-02 is not before --until 2026-12-01"
            ),
        ] {
            let refused = await kiosk.runRaw(["find"] + arguments + ["--db", kiosk.db])
            #expect(
                refused.status == 1 && refused.stderr.hasPrefix("error: \(message)"),
                "\(arguments): \(refused.stderr)"
            )
        }
    }

    @Test func statusAndConflictsReportTheReplica() async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        for order in ["A", "B", "C"] {
            _ = await kiosk.run("record", "--order", order, "--gtin", "96385074", "--reason", "other")
        }
        let status = try #require(try json(await kiosk.run("status", "--json").stdout) as? [String: Any])
        #expect(status["replicaId"] as? String == "s1/k1")
        #expect(status["storeId"] as? String == "s1")
        #expect((status["returns"] as? [String: Int])?["received"] == 3)
        #expect(status["unsyncedChanges"] as? Int == 3)
        #expect(status["lastSyncAt"] is NSNull)
        #expect((try json(await kiosk.run("conflicts", "--json").stdout) as? [Any])?.isEmpty == true)
        #expect(await kiosk.run("conflicts").stdout.contains("0 conflicts"))
        // Storage and retention, as an operator reads them: nothing synced, so nothing prunable.
        let storage = try #require(status["storage"] as? [String: Any])
        #expect(storage["retentionDays"] as? Int == 180 && storage["retentionSetByHQ"] as? Bool == false)
        #expect(storage["prunableReturns"] as? Int == 0 && (storage["databaseBytes"] as? Int ?? 0) > 0)
        let text = await kiosk.run("status").stdout
        #expect(text.contains("closed and voided returns kept 180 days (the default; HQ sets it per store)"), "\(text)")
        #expect(text.contains("prunable     0 returns and 0 order lines"), "\(text)")
        let pruned = await kiosk.run("prune")
        #expect(pruned.status == 0 && pruned.stdout.hasPrefix("pruned 0 returns and 0 order lines"), "\(pruned.stdout)")
        let prunedJSON = try #require(try json(await kiosk.run("prune", "--json").stdout) as? [String: Any])
        #expect(prunedJSON["returns"] as? Int == 0 && prunedJSON["retentionDays"] as? Int == 180)
        let after = try #require(try json(await kiosk.run("status", "--json").stdout) as? [String: Any])
        #expect(after["totalReturns"] as? Int == 3)
    }

    @Test func exportThenImportThroughTheCommandsIsLossless() async throws {
        let source = try KioskHarness()
        _ = await source.run("init", "--store", "s1", "--kiosk", "k1")
        let id = await source.run("record", "--order", "A", "--gtin", "96385074", "--reason", "defective").output
        _ = await source.run("inspect", id, "--condition", "defective", "--test", "fail", "--note", "dead on arrival")
        let exported = await source.run("export")
        #expect(exported.status == 0)

        let target = try KioskHarness()
        _ = await target.run("init", "--store", "s1", "--kiosk", "k2")
        let file = target.directory.file("export.ndjson")
        try Data(exported.stdout.utf8).write(to: URL(fileURLWithPath: file))
        let imported = await target.run("import", file)
        #expect(imported.status == 0)
        #expect(imported.stdout.contains("imported 1 returns"))
        #expect(await target.run("export").stdout == exported.stdout)
    }

    /// Each refused command: exit status, one line on stderr naming the bad value, and the database unchanged.
    @Test(arguments: [
        (["record", "--order", "A", "--gtin", "4006381333932", "--reason", "damaged"], "invalid GTIN '4006381333932'"),
        (["record", "--order", "A", "--gtin", "96385074", "--reason", "broken"], "invalid reason 'broken'"),
        (
            ["record", "--order", "A", "--gtin", "96385074", "--reason", "damaged", "--quantity", "0"],
            "invalid quantity '0'"
        ),
        (
            ["record", "--order", "A", "--gtin", "96385074", "--reason", "damaged", "--quantity", "two"],
            "invalid quantity 'two'"
        ),
        (["record", "--order", "A B", "--gtin", "96385074", "--reason", "damaged"], "invalid order id 'A B'"),
        (["record", "--order", "A", "--gtin", "96385074"], "--reason"),
        (
            ["record", "--order", "A", "--reason", "damaged", "--scan", "(01)96385075"],
            "invalid GS1 scan '(01)96385075'"
        ),
        (["inspect", "ID", "--condition", "shiny"], "invalid condition 'shiny'"),
        (["inspect", "ID", "--condition", "used", "--test", "maybe"], "invalid test result 'maybe'"),
        (["disposition", "ID", "donate"], "invalid disposition 'donate'"),
        (["disposition", "ID", "repair"], "inspect it before choosing a disposition"),
        (["close", "ID"], "only a dispositioned return can be closed"),
        (["void", "ID"], "--note"),
        (["note", "ID", "   "], "a note cannot be blank"),
        (["show", "not-an-id"], "invalid return id 'not-an-id'"),
        (["show", "0192f5e0-7a3c-7def-8123-456789abcdef"], "no return with id 0192f5e0-7a3c-7def-8123-456789abcdef"),
        (["list", "--status", "lost"], "invalid status 'lost'"),
        (["import", "/nonexistent/file.ndjson"], "/nonexistent/file.ndjson"),
        (["init", "--store", "s1", "--kiosk", "k1"], "already initialised"),
    ])
    func refusedCommandsExplainThemselvesAndChangeNothing(arguments: [String], expected: String) async throws {
        let kiosk = try KioskHarness()
        _ = await kiosk.run("init", "--store", "s1", "--kiosk", "k1")
        let id = await kiosk.run("record", "--order", "A", "--gtin", "96385074", "--reason", "damaged").output
        let before = try kiosk.snapshot()

        let result = await kiosk.runRaw(arguments.map { $0 == "ID" ? id : $0 } + ["--db", kiosk.db])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("error: "))
        #expect(result.stderr.filter { $0 == "\n" }.count == 1, "one line: \(result.stderr)")
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(try kiosk.snapshot() == before)
    }

    @Test func aMissingDatabaseIsAnErrorAndIsNotCreated() async throws {
        let kiosk = try KioskHarness()
        for arguments in [
            ["list"], ["status", "--json"], ["record", "--order", "A", "--gtin", "96385074", "--reason", "other"],
        ] {
            let result = await kiosk.runRaw(arguments + ["--db", kiosk.db])
            #expect(result.status == 1)
            #expect(
                result.stderr
                    == "error: no kiosk database at \(kiosk.db): run 'kiosk init --store STORE --kiosk KIOSK' first, or pass --db PATH\n"
            )
        }
        #expect(!FileManager.default.fileExists(atPath: kiosk.db))
    }

    /// The `kiosk` executable built next to the test bundle.
    static var kioskBinary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kiosk")
    }

    /// Starts `kiosk` with `KIOSK_DB` set; returns a function that waits for it (on a thread of its own, off the
    /// threads every test's async work shares) and collects its output.
    static func launchKiosk(
        _ arguments: [String],
        database: String,
        environment: [String: String] = [:]
    ) throws -> @Sendable () async throws -> Invocation {
        let process = try ChildProcess(
            kioskBinary.path,
            arguments,
            directory: (database as NSString).deletingLastPathComponent,
            environment: environment.merging(["KIOSK_DB": database]) { $1 },
            output: .pipe,
            error: .pipe
        )
        return {
            try await offThePool {
                // Small outputs: neither pipe fills while the other is read.
                let stdout = process.standardOutput!.readDataToEndOfFile()
                let stderr = process.standardError!.readDataToEndOfFile()
                return Invocation(
                    status: process.waitUntilExit().status,
                    stdout: String(decoding: stdout, as: UTF8.self),
                    stderr: String(decoding: stderr, as: UTF8.self)
                )
            }
        }
    }

    /// With `RETURNSYNC_CUSTOMER_KEY` set, a customer's reference is stored as its keyed hash — the database never
    /// holds the id — and typing the id (in any case) still finds the customer's returns; `KIOSK_OPERATOR` names
    /// who captured them.
    @Test func customerReferencesAreHashedWithTheDeploymentsKeyAndStillFound() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.kioskBinary.path))
        let directory = try TemporaryDirectory()
        let database = directory.file("hashed.sqlite")
        let environment = ["RETURNSYNC_CUSTOMER_KEY": "a deployment secret", "KIOSK_OPERATOR": "dana"]
        func kiosk(_ arguments: String...) async throws -> Invocation {
            try await Self.launchKiosk(arguments, database: database, environment: environment)()
        }
        #expect(try await kiosk("init", "--store", "s1", "--kiosk", "k1").status == 0)
        let id = try await kiosk(
            "record",
            "--order",
            "A",
            "--gtin",
            "96385074",
            "--reason",
            "other",
            "--customer",
            "LOYAL-0042"
        ).output
        _ = try await kiosk(
            "record",
            "--order",
            "B",
            "--gtin",
            "96385074",
            "--reason",
            "other",
            "--customer",
            "LOYAL-0043"
        )
        let json = try await kiosk("show", id, "--json").stdout
        #expect(!json.contains("LOYAL-0042") && json.contains("\"customerRef\" : \"h:"), "\(json)")
        #expect(json.contains("\"operatorId\" : \"dana\""), "\(json)")
        let found = try await kiosk("find", "--customer", "loyal-0042", "--json").stdout
        #expect(found.contains(id) && !found.contains("\"orderId\" : \"B\""), "\(found)")
        // The operator from the agent's config file, when neither the option nor KIOSK_OPERATOR names one.
        let config = directory.file("kiosk.conf")
        try "server = 127.0.0.1:7420\noperator = erin\n".write(toFile: config, atomically: true, encoding: .utf8)
        let noted = try await Self.launchKiosk(
            ["note", id, "checked"],
            database: database,
            environment: ["KIOSK_CONFIG": config]
        )()
        #expect(noted.status == 0, "\(noted.stderr)")
        let history = try await kiosk("show", id, "--json").stdout
        #expect(history.contains("\"operatorId\" : \"erin\""), "\(history)")
        // Without the key, the same text is another reference: nothing matches.
        let plain = try await Self.launchKiosk(["find", "--customer", "LOYAL-0042"], database: database)()
        #expect(plain.output.hasSuffix("0 returns"), "\(plain.stdout)")
        let sqlite = try String(contentsOfFile: database, encoding: .isoLatin1)
        #expect(!sqlite.contains("LOYAL-0042"), "the id is nowhere in the file")
    }

    @Test func twoKioskProcessesWritingOneDatabaseBothSucceed() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.kioskBinary.path),
            "kiosk is built next to the tests"
        )
        let directory = try TemporaryDirectory()
        let database = directory.file("shared.sqlite")
        #expect(
            try await Self.launchKiosk(["init", "--store", "s1", "--kiosk", "k1"], database: database)().status == 0
        )
        // Two imports, each one long transaction, and five captures, all started together: writers wait for each
        // other (busy timeout) and none fails.
        var files: [String] = []
        for offset in [0, 5_000] {
            let file = directory.file("batch-\(offset).ndjson")
            try SampleData.importLines(count: 5_000, offset: offset).write(to: URL(fileURLWithPath: file))
            files.append(file)
        }
        let imports = try files.map { try Self.launchKiosk(["import", $0], database: database) }
        let captures = try (0..<5).map { index in
            try Self.launchKiosk(
                ["record", "--order", "P-\(index)", "--gtin", "96385074", "--reason", "other"],
                database: database
            )
        }
        for wait in imports + captures {
            let result = try await wait()
            #expect(result.status == 0, "\(result.stderr)")
        }
        let status = try await Self.launchKiosk(["status", "--json"], database: database)()
        let document = try #require(try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(document["totalReturns"] as? Int == 10_005)
    }

    @Test func theExecutableReadsKIOSK_DBAndExitsNonZeroOnErrors() async throws {
        let directory = try TemporaryDirectory()
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.kioskBinary.path),
            "kiosk is built next to the tests"
        )

        func kiosk(_ arguments: String...) async throws -> Invocation {
            try await Self.launchKiosk(arguments, database: directory.file("env.sqlite"))()
        }

        #expect(try await kiosk("init", "--store", "s1", "--kiosk", "k1").status == 0)
        #expect(FileManager.default.fileExists(atPath: directory.file("env.sqlite")))
        let recorded = try await kiosk("record", "--order", "A", "--gtin", "96385074", "--reason", "other")
        #expect(recorded.status == 0)
        #expect(try ReturnID(recorded.output).rawValue == recorded.output)
        let refused = try await kiosk("record", "--order", "A", "--gtin", "96385075", "--reason", "other")
        #expect(refused.status == 1)
        #expect(refused.stderr == "error: invalid GTIN '96385075': check digit is 5, expected 4\n")
        #expect(try await kiosk("frobnicate").status == 2)
    }
}
