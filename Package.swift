// swift-tools-version: 6.1
// The module graph is the architecture:
//   CImageShim (C, owns setjmp/longjmp) -> ImageIO ─┐
//   NeuralNet (OpenBLAS) ────────────────────────────┴-> VAE ─┐
//   EntropyCoding (rANS, frequency tables, CRC-32) ──────────┴-> Codec -> Evaluation -> vaecodec (CLI)
import PackageDescription

// Only the numeric kernels drop overflow and bounds checks; parsers of untrusted input keep them.
let unchecked: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
// The denoiser's 8-lane DCT loops run some 50 times slower unoptimised, which would make the test suite crawl.
let optimizedEvenInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "vaecodec",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vaecodec", targets: ["vaecodec"]),
        .library(name: "ImageIO", targets: ["ImageIO"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "VAE", targets: ["VAE"]),
        .library(name: "EntropyCoding", targets: ["EntropyCoding"]),
        .library(name: "Codec", targets: ["Codec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // System libraries, found through pkg-config; `providers` tells SwiftPM which apt package is missing.
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CLibJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // The only code that calls libpng/libjpeg: their errors longjmp, which Swift cannot survive.
        .target(name: "CImageShim", dependencies: ["CLibPNG", "CLibJPEG"]),

        .target(name: "ImageIO", dependencies: ["CImageShim"]),
        .target(name: "NeuralNet", dependencies: ["COpenBLAS"], swiftSettings: unchecked),
        .target(name: "VAE", dependencies: ["NeuralNet", "ImageIO", "CZlib"]),
        .target(name: "EntropyCoding"),
        // The shipped models (faces, digits) travel as resources; see ModelStore for how they are found.
        .target(name: "Codec", dependencies: ["VAE", "ImageIO", "EntropyCoding"], resources: [.copy("Models")],
                swiftSettings: optimizedEvenInDebug),
        .target(name: "Evaluation", dependencies: ["Codec", "VAE", "ImageIO", "EntropyCoding", "NeuralNet"]),
        .executableTarget(
            name: "vaecodec",
            dependencies: [
                "ImageIO", "NeuralNet", "VAE", "Codec", "Evaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"]),
        .testTarget(name: "VAETests", dependencies: ["VAE"]),
        .testTarget(name: "EntropyCodingTests", dependencies: ["EntropyCoding"]),
        .testTarget(name: "CodecTests", dependencies: ["Codec"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"]),
        // Runs the built executable (the dependency makes `swift test` build it first).
        .testTarget(name: "CLITests", dependencies: ["vaecodec"]),
    ]
)
