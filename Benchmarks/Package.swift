// swift-tools-version: 6.1
//
// Micro-benchmarks of ReturnSync's engine, codec and store, with ordo-one/benchmark. A package of its own, so the
// main build never pays for the benchmark framework. Run from this directory:
//
//   swift package --allow-writing-to-package-directory benchmark
//
// BENCHMARKS.md (at the repository root) has the figures and the end-to-end tool, returns-bench.

import PackageDescription

let package = Package(
    name: "ReturnSyncBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "ReturnSync", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SyncEngine", package: "ReturnSync"),
                .product(name: "ReturnsSync", package: "ReturnSync"),
                .product(name: "ReturnsModel", package: "ReturnSync"),
                .product(name: "WireProtocol", package: "ReturnSync"),
                .product(name: "ReplicaStore", package: "ReturnSync"),
                .product(name: "ReturnSyncJSON", package: "ReturnSync"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
