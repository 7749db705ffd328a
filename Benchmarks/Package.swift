// swift-tools-version: 6.1
// Speed benchmarks (ordo-one/benchmark), kept in their own package so that building and testing vaecodec
// does not need the benchmark framework. Run from this folder: swift package benchmark
import PackageDescription

let package = Package(
    name: "vaecodec-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(path: "vaecodec"),  // a link to the repository root, so the package is named vaecodec wherever it is cloned
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "VAECodecBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "VAECodecKit", package: "vaecodec"),
            ],
            path: "Benchmarks/VAECodecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
