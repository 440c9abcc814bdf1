// swift-tools-version: 6.1
//
// libFuzzer targets for ReturnSync's decoders: their own package, so the main build never pays for them.
// See README.md.

import PackageDescription

let package = Package(
    name: "ReturnSyncFuzz",
    dependencies: [.package(name: "ReturnSync", path: "..")],
    targets: [
        .executableTarget(
            name: "fuzz-sync-message",
            dependencies: [.product(name: "WireProtocol", package: "ReturnSync")]
        )
    ]
)
