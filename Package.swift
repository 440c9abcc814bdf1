// swift-tools-version: 6.1
//
// ReturnSync: an offline-first sync backend for store return kiosks.
//
// Targets are split by job and by how heavy their dependencies are, and depend one way only:
//
//   ReturnsModel   domain vocabulary and lifecycle rules          Foundation only
//   SyncEngine     vector clocks, dotted fields, merge, conflicts  Foundation only, knows nothing of returns
//   ReturnsSync    returns as replicated records (binds the two)   Foundation only
//
// Later layers (replica store, wire protocol, server, client, executables) stack on top of these.

import PackageDescription

let package = Package(
    name: "ReturnSync",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "ReturnsModel", targets: ["ReturnsModel"]),
        .library(name: "SyncEngine", targets: ["SyncEngine"]),
        .library(name: "ReturnsSync", targets: ["ReturnsSync"]),
        .executable(name: "sync-demo", targets: ["sync-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1")
    ],
    targets: [
        .target(name: "ReturnsModel"),
        .target(name: "SyncEngine"),
        .target(name: "ReturnsSync", dependencies: ["ReturnsModel", "SyncEngine"]),
        .executableTarget(name: "sync-demo", dependencies: ["ReturnsSync"]),

        .testTarget(
            name: "ReturnsModelTests",
            dependencies: ["ReturnsModel", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "SyncEngineTests",
            dependencies: ["SyncEngine", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "ReturnsSyncTests",
            dependencies: ["ReturnsSync", .product(name: "PropertyBased", package: "swift-property-based")]
        ),
    ]
)
