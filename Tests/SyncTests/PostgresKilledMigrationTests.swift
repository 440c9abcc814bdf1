import Foundation
import Logging
import PostgresNIO
import PostgresStorage
import ReturnSyncTestSupport
import ReturnsModel
import SyncEngine
import Testing

/// Issue 22 on PostgreSQL: a `returns-server` killed with SIGKILL while it migrates a database of 1,000,000 returns
/// leaves the old schema or the new one, never part of a release's migrations (they run in one transaction); and
/// before it starts, it says what it will do and about how long.
@Suite(.enabled(if: PostgresTestServer.isAvailable, PostgresTestServer.skipped))
struct PostgresKilledMigrationTests {
    static let kiosk = try! ReplicaID("store-1/a")
    static let step = "2026-12-03-purchase-verification-indexes"
    static let indexes = ["returns_by_serial", "returns_unverified", "returns_by_id", "orders_by_store"]

    /// The first column of the first row `sql` returns, as text.
    static func scalar(_ url: PostgresURL, _ sql: String) async throws -> String {
        let connection = try await PostgresConnection.connect(
            configuration: try url.connectionConfiguration(),
            id: 1,
            logger: PostgresTestServer.logger
        )
        var value = ""
        do {
            for try await (text) in try await connection.query(
                PostgresQuery(unsafeSQL: sql),
                logger: PostgresTestServer.logger
            ).decode(String.self) { value = text }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return value
    }

    @Test func aMillionReturnDatabaseKilledWhileMigratingKeepsTheOldSchemaOrTheNew() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        do {
            let storage = try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)
            _ = try await storage.acceptPush(
                [try SampleData.capturedReturn(by: Self.kiosk, at: Date(), orderID: "ORD-1")],
                from: Self.kiosk,
                store: StoreID("store-1")
            )
            await storage.close()
            // A database of before the step: its indexes gone, its name unrecorded; then 999,999 more returns like
            // the first (record and projection), copied by the server itself.
            _ = try await Self.scalar(
                url,
                """
                DO $$
                DECLARE columns text; copied text;
                BEGIN
                    -- returns_by_serial went in a later step (returns_by_unit replaced it).
                    DROP INDEX IF EXISTS \(Self.indexes.joined(separator: ", "));
                    DELETE FROM returnsync_migrations WHERE name = '\(Self.step)';
                    SELECT string_agg(quote_ident(column_name), ',' ORDER BY ordinal_position),
                           string_agg(CASE WHEN column_name = 'id' THEN 'id || ''-'' || i'
                                      ELSE quote_ident(column_name) END, ',' ORDER BY ordinal_position)
                      INTO columns, copied
                      FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'returns';
                    EXECUTE format('INSERT INTO returns (%s) SELECT %s FROM returns, generate_series(1, 999999) i',
                                   columns, copied);
                    INSERT INTO records (store_id, entity_type, id, record)
                    SELECT store_id, entity_type, id || '-' || i, record FROM records, generate_series(1, 999999) i
                    WHERE entity_type = 'return';
                END $$
                """
            )
            #expect(try await Self.scalar(url, "SELECT count(*)::text FROM returns") == "1000000")
            func state() async throws -> (applied: Bool, indexes: Int) {
                let applied = try await Self.scalar(
                    url,
                    "SELECT count(*)::text FROM returnsync_migrations WHERE name = '\(Self.step)'"
                )
                let present = try await Self.scalar(
                    url,
                    "SELECT count(*)::text FROM pg_indexes WHERE indexname IN ("
                        + Self.indexes.map { "'\($0)'" }.joined(separator: ",") + ")"
                )
                return (applied == "1", Int(present) ?? -1)
            }

            // `returns-server kiosks` migrates on open; each round kills it later, until one finds it done.
            let binary = ToolRun.binaries.appendingPathComponent("returns-server").path
            var migrated = false
            for delay in Array(stride(from: 100, through: 6_000, by: 400)) + [12_000, 30_000] where !migrated {
                let process = try ChildProcess(
                    binary,
                    ["kiosks", "--db", url.description],
                    output: .discard,
                    error: .discard
                )
                _ = try await offThePool { usleep(UInt32(delay) * 1_000) }
                process.send(SIGKILL)
                _ = try await offThePool { process.waitUntilExit() }
                let (applied, indexes) = try await state()
                #expect(indexes == (applied ? 4 : 0), "all of the step or none (killed after \(delay) ms)")
                migrated = applied
            }
            // The next start finishes what the kills left.
            let run = try await offThePool { try ToolRun("returns-server", ["kiosks", "--db", url.description]) }
            #expect(run.status == 0, "\(run.stderr)")
            let final = try await state()
            #expect(final.applied && final.indexes == 4)
            #expect(try await Self.scalar(url, "SELECT count(*)::text FROM returns") == "1000000")
        } catch {
            await drop()
            throw error
        }
        await drop()
    }

    @Test func beforeItMigratesTheServerSaysWhatAndAboutHowLong() async throws {
        let (url, drop) = try await PostgresTestServer.makeDatabase()
        do {
            await (try await PostgresServerStorage.open(url, logger: PostgresTestServer.logger)).close()
            // HQ's audit of 3,000 lines, from before its index.
            _ = try await Self.scalar(
                url,
                """
                DO $$ BEGIN
                    DROP INDEX hq_audit_by_time;
                    DELETE FROM returnsync_migrations WHERE name = '2026-12-04-hq-audit-by-time';
                    INSERT INTO hq_audit (at, actor, action, subject, detail)
                    SELECT i, 'admin', 'signed-in', 'admin', '' FROM generate_series(1, 3000) i;
                END $$
                """
            )
            let run = try await offThePool { try ToolRun("returns-server", ["kiosks", "--db", url.description]) }
            #expect(run.status == 0, "\(run.stderr)")
            #expect(
                run.stderr.contains(
                    "migrating \(url.database): 1 schema step (2026-12-04-hq-audit-by-time), the longest over 3,000 "
                        + "rows (2026-12-04-hq-audit-by-time); under a second."
                ),
                "\(run.stderr)"
            )
            let again = try await offThePool { try ToolRun("returns-server", ["kiosks", "--db", url.description]) }
            #expect(again.status == 0 && !again.stderr.contains("migrating"), "\(again.stderr)")
        } catch {
            await drop()
            throw error
        }
        await drop()
    }
}
