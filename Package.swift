// swift-tools-version: 6.1
//
// ReturnSync: an offline-first sync backend for store return kiosks.
//
// Targets are split by job and by how heavy their dependencies are, and depend one way only:
//
//   ReturnSyncJSON a strict, fast JSON value, parser and writer     standard library only
//   ReturnsModel   domain vocabulary and lifecycle rules          Foundation only
//   HQAccess       HQ's console users: roles, names, passwords,    hummingbird-auth's HummingbirdBcrypt,
//                  sign-in decisions, session and CSRF tokens      swift-crypto
//   HQConsole      HQ's web console (`serve --console-port`)        Hummingbird
//   SyncEngine     vector clocks, dotted fields, merge, conflicts  Foundation only, knows nothing of returns
//   ReturnsSync    returns as replicated records (binds the two)   Foundation only
//   SyncCore       the sync rules, free of sockets and storage:    Foundation, swift-crypto
//                  who may push what, the server's session as a
//                  state machine (storage and sockets are the driver's)
//   ReplicaStore   durable replica on SQLite, kiosk and server      GRDB over the system libsqlite3
//   WireProtocol   messages, errors and signed payloads of the         Foundation, swift-crypto
//                  sync protocol
//   SyncTransport  sync frames on NIO channels (codec, limits, idle)    NIOCore, NIOExtras
//   ReturnsServer  the central sync server, a Service                  NIOPosix, service-lifecycle, swift-crypto,
//                                                                      swift-nio-ssl (optional TLS), swift-metrics,
//                                                                      swift-prometheus and NIOHTTP1 (/metrics)
//   SyncClient     the kiosk side of sync and the background agent,    NIOPosix, swift-crypto, swift-nio-ssl,
//                  embeddable in a kiosk app                          service-lifecycle
//   EPCISExport    a return's lifecycle as GS1 EPCIS 2.0 events        swift-crypto (stable event ids)
//   ReturnLabel    a printable return label (SVG, Code 128)            ReturnsModel only
//   CommandLineSupport  console, tables and JSON output of both CLIs
//   KioskCLI, ReturnsServerCLI  the command trees                     swift-argument-parser
//   kiosk, returns-server   thin executables
//   returns-bench  end-to-end sync benchmarks against a returns-server process

import PackageDescription

/// jemalloc, linked into an executable (Linux only): `libjemalloc_pic.a`, the static archive Debian's libjemalloc-dev
/// ships, so no `libjemalloc2` is needed where the executable runs. The executable defines `malloc` and the rest, and
/// exports them, so the libraries it loads (Swift's runtime, Foundation, SQLite) allocate with it too.
var jemalloc: [LinkerSetting] { [.linkedLibrary("jemalloc_pic", .when(platforms: [.linux]))] }

let package = Package(
    name: "ReturnSync",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "ReturnSyncJSON", targets: ["ReturnSyncJSON"]),
        .library(name: "ReturnsModel", targets: ["ReturnsModel"]),
        .library(name: "SyncEngine", targets: ["SyncEngine"]),
        .library(name: "ReturnsSync", targets: ["ReturnsSync"]),
        .library(name: "SyncCore", targets: ["SyncCore"]),
        .library(name: "ReplicaStore", targets: ["ReplicaStore"]),
        .library(name: "KioskCLI", targets: ["KioskCLI"]),
        .library(name: "ReturnsServerCLI", targets: ["ReturnsServerCLI"]),
        .library(name: "WireProtocol", targets: ["WireProtocol"]),
        .library(name: "ReturnsServer", targets: ["ReturnsServer"]),
        .library(name: "SyncClient", targets: ["SyncClient"]),
        .library(name: "EPCISExport", targets: ["EPCISExport"]),
        .library(name: "ReturnLabel", targets: ["ReturnLabel"]),
        .executable(name: "kiosk", targets: ["kiosk"]),
        .executable(name: "returns-server", targets: ["returns-server"]),
        .executable(name: "sync-demo", targets: ["sync-demo"]),
        .executable(name: "returns-bench", targets: ["returns-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // The console's orders upload is a browser's multipart/form-data file upload (issue 21).
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // The central server on PostgreSQL (issue 17): its client and connection pool.
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        // The HQ console (issue 21): its users' passwords hashed with bcrypt.
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // HTTP field names for the console's security headers (already in Hummingbird's graph).
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        .target(name: "ReturnSyncJSON"),
        .target(name: "ReturnsModel"),
        // SQLite's process-wide settings, made as the process loads (its configuration call is variadic C).
        .target(name: "CSQLiteSettings", linkerSettings: [.linkedLibrary("sqlite3")]),
        // Which malloc serves the process: jemalloc's version, read through a weak reference (MemoryAllocator).
        .target(name: "CMemoryAllocator"),
        // A table-valued function over rows held in memory: many rows written by one statement, no value bound.
        .target(name: "CSQLiteRows", linkerSettings: [.linkedLibrary("sqlite3")]),
        // HQ's users and roles (the console's and the commands'): names, roles, bcrypt password hashes.
        .target(
            name: "HQAccess",
            dependencies: [
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                // Session tokens and CSRF tokens: random bytes, SHA-256 and HMAC.
                .product(name: "Crypto", package: "swift-crypto"),
                // lowercaseHex: session hashes are written as token hashes and digests are.
                "WireProtocol",
            ]
        ),
        .target(name: "SyncEngine", dependencies: ["ReturnSyncJSON"]),
        .target(name: "ReturnsSync", dependencies: ["ReturnsModel", "SyncEngine", "ReturnSyncJSON"]),
        // A printable return label: what to do with the unit, and its id as a barcode.
        .target(name: "ReturnLabel", dependencies: ["ReturnsModel"]),
        // A return's lifecycle as GS1 EPCIS 2.0 ObjectEvents: pure functions of its record.
        .target(
            name: "EPCISExport",
            dependencies: [
                "ReturnsSync", "ReturnsModel", "ReturnSyncJSON", .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The sync rules, free of sockets and of storage: who may push what; storage answers their questions.
        .target(
            name: "SyncCore",
            dependencies: [
                "ReturnsSync", "ReturnsModel", "SyncEngine", "WireProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "ReplicaStore",
            dependencies: [
                "ReturnsSync", "SyncCore", "ReturnSyncJSON", "HQAccess", .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's memory statistics off before its first initialization (each allocation takes a lock).
                "CSQLiteSettings",
                // `returnsync_rows(?)`: a server's push writes its returns' projection rows a few hundred at a time.
                "CSQLiteRows",
                // The SQLite C API, for the bind-and-step hot path of RawInsert.
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                // SHA-256, which names attachments by their bytes.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            // Sync frames on NIO channels: the line codec, frame limits and the idle timer both sides use, and
            // the kiosk's decoder that hands a pulled page over before its records are decoded.
            name: "SyncTransport",
            dependencies: [
                "WireProtocol", "SyncEngine", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "WireProtocol",
            dependencies: [
                "SyncEngine", "ReturnSyncJSON",
                // Enrollment tokens derive a signing key: the handshake's cryptography is part of the contract.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "ReturnsServer",
            dependencies: [
                "WireProtocol", "SyncTransport", "SyncCore", "ReplicaStore", "HQAccess", "EPCISExport",
                "CMemoryAllocator", .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // Metrics are emitted through swift-metrics; the endpoint exports them with swift-prometheus.
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            // The server's storage on PostgreSQL, for fleets that outgrow one SQLite file.
            name: "PostgresStorage",
            dependencies: [
                "ReturnsServer", "ReplicaStore", "HQAccess", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // HQ's web console on Hummingbird: sign-in, sessions, CSRF, security headers, pages.
        .target(
            name: "HQConsole",
            dependencies: [
                "HQAccess", "ReturnsServer", "ReplicaStore", "ReturnsSync", "CommandLineSupport", "WireProtocol",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                // The command line's own option groups read the console's forms (one set of checks and messages).
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // A live dashboard's event stream ends when the server shuts down gracefully.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "SyncClient",
            dependencies: [
                "WireProtocol", "SyncTransport", "SyncCore", "ReplicaStore", "ReturnsSync",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // SyncAgent is a Service: SIGTERM ends it gracefully.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "CommandLineSupport",
            dependencies: [
                "ReplicaStore", "WireProtocol", "ReturnSyncJSON",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                // HMAC for customer references stored hashed (CustomerReferences).
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "KioskCLI",
            dependencies: [
                "ReplicaStore", "SyncClient", "CommandLineSupport", "ReturnLabel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ReturnsServerCLI",
            dependencies: [
                "ReturnsServer", "PostgresStorage", "SyncTransport", "SyncCore", "CommandLineSupport", "ReturnSyncJSON",
                "EPCISExport", "HQAccess", "HQConsole", .product(name: "Hummingbird", package: "hummingbird"),
                // The console over TLS with the sync port's certificate.
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                // `serve` lowers the priority of the shared event loops (EventLoopPriority).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The executables allocate with jemalloc instead of the C library's malloc, linked in from Debian's
        // libjemalloc-dev (`libjemalloc_pic.a`): nothing to install where they run. Their memory is allocated on one
        // thread and freed on another — a frame decoded on an event loop, its records stored and released on a writer
        // — which glibc's allocator pays for: 2–12 % of the server's CPU in a thousand-kiosk fleet, and in a kiosk's
        // first pull a quarter more peak memory and more CPU in most runs (BENCHMARKS.md, issue 18, twenty-sixth and
        // thirty-third parts; MemoryAllocator).
        .executableTarget(name: "kiosk", dependencies: ["KioskCLI"], linkerSettings: jemalloc),
        .executableTarget(name: "returns-server", dependencies: ["ReturnsServerCLI"], linkerSettings: jemalloc),
        // Helpers that several test targets share.
        .target(
            name: "ReturnSyncTestSupport",
            dependencies: ["ReturnsModel", "ReturnsSync", "WireProtocol", "ReturnSyncJSON", "ReplicaStore"]
        ),
        .executableTarget(name: "sync-demo", dependencies: ["ReturnsSync"]),
        // End-to-end sync benchmarks against a real returns-server process (BENCHMARKS.md).
        .executableTarget(
            name: "returns-bench",
            dependencies: [
                "ReturnsServer", "SyncClient", "ReplicaStore", "WireProtocol", "SyncTransport", "PostgresStorage",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            // Its kiosk is the one `kiosk` ships, allocator included.
            linkerSettings: jemalloc
        ),

        .testTarget(
            name: "ReturnSyncJSONTests",
            dependencies: ["ReturnSyncJSON", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(name: "HQAccessTests", dependencies: ["HQAccess", "ReturnSyncTestSupport"]),
        .testTarget(
            name: "HQConsoleTests",
            dependencies: [
                "HQConsole", "HQAccess", "ReturnsServer", "ReplicaStore", "ReturnSyncTestSupport", "SyncEngine",
                "ReturnsModel",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .testTarget(
            name: "ReturnsModelTests",
            dependencies: ["ReturnsModel", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "SyncEngineTests",
            dependencies: [
                "SyncEngine", "ReturnSyncJSON", .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "ReturnsSyncTests",
            dependencies: [
                "ReturnsSync", "ReturnSyncJSON", "ReturnSyncTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "SyncCoreTests",
            dependencies: [
                "SyncCore", "WireProtocol", "ReturnSyncTestSupport", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "ReplicaStoreTests",
            dependencies: [
                "ReplicaStore", "ReturnSyncTestSupport", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                "CSQLiteSettings", "CSQLiteRows", .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "KioskCLITests",
            dependencies: [
                "KioskCLI", "CommandLineSupport", "kiosk", "ReturnSyncTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "WireProtocolTests",
            dependencies: [
                "WireProtocol", "SyncTransport", "ReturnSyncTestSupport", .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SyncTests",
            dependencies: [
                "ReturnsServer", "SyncCore", "SyncTransport", "SyncClient", "KioskCLI", "ReturnsServerCLI", "ReturnSyncTestSupport",
                "EPCISExport", "HQConsole", .product(name: "HummingbirdTesting", package: "hummingbird"),
                "PostgresStorage", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"), "returns-server",
                "kiosk", .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            // Test certificates, read through #filePath.
            exclude: ["Fixtures"]
        ),
    ]
)
