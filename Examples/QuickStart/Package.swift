// swift-tools-version: 6.1
// A package that uses vaecodec as a library, by version, the way a new user's app would. `Examples/check.sh`
// builds and runs it against a tag of this checkout (VAECODEC_URL names that clone; without it, the public URL).
import Foundation
import PackageDescription

let vaecodec = ProcessInfo.processInfo.environment["VAECODEC_URL"] ?? "https://github.com/vaecodec/vaecodec"

let package = Package(
    name: "QuickStart",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: vaecodec, from: "0.2.0"),
    ],
    targets: [
        .executableTarget(name: "QuickStart", dependencies: [.product(name: "VAECodecKit", package: "vaecodec")]),
    ]
)
