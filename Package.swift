// swift-tools-version: 6.1
// The module graph is the architecture (each module, then what it builds on):
//   CImageShim (C, owns setjmp/longjmp)            libpng, libjpeg
//   ImageIO (PNG/JPEG, canvas)                      CImageShim
//   CGemm (C, reproducible matrix products)         -
//   NeuralNet (tensors, layers, Adam)               CGemm; OpenBLAS, loaded as the speed reference
//   VAE (model, ELBO, training, model files)        NeuralNet, ImageIO
//   ImageFilters (DCT Wiener, Gaussian blur)        ImageIO, NeuralNet
//   EntropyCoding (rANS, frequency tables, CRC-32)  -
//   Codec (quantisation, container, denoising)      VAE, EntropyCoding, ImageFilters
//   Evaluation (metrics, baselines, reports)        Codec
//   vaecodec (the CLI)                              Evaluation
import PackageDescription

// No unsafe flags (-Ounchecked, -O in debug, -O3 for C): SwiftPM refuses them in a package used by version, and
// they bought 5% of batch compression speed. The price is a slower debug test suite.

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
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // The only code that calls libpng/libjpeg: their errors longjmp, which Swift cannot survive.
        .target(name: "CImageShim", dependencies: ["CLibPNG", "CLibJPEG"]),

        .target(name: "ImageIO", dependencies: ["CImageShim"]),
        // Reproducible matrix products (see vc_gemm.h).
        .target(name: "CGemm"),
        .target(name: "NeuralNet", dependencies: ["CGemm"]),
        .target(name: "VAE", dependencies: ["NeuralNet", "ImageIO", "CZlib"]),
        .target(name: "EntropyCoding"),
        // The shipped models (faces, digits) travel as resources; see ModelStore for how they are found.
        // Classical filters on gray images (DCT Wiener, Gaussian blur).
        .target(name: "ImageFilters", dependencies: ["ImageIO", "NeuralNet"]),
        .target(name: "Codec", dependencies: ["VAE", "ImageIO", "EntropyCoding", "ImageFilters"], resources: [.copy("Models")]),
        .target(name: "Evaluation", dependencies: ["Codec", "VAE", "ImageIO", "EntropyCoding", "NeuralNet", "ImageFilters"]),
        .executableTarget(
            name: "vaecodec",
            dependencies: [
                "ImageIO", "NeuralNet", "VAE", "ImageFilters", "Codec", "Evaluation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "ImageIOTests", dependencies: ["ImageIO"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet"]),
        .testTarget(name: "VAETests", dependencies: ["VAE"]),
        .testTarget(name: "EntropyCodingTests", dependencies: ["EntropyCoding"]),
        .testTarget(name: "CodecTests", dependencies: ["Codec", "ImageFilters"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"]),
        // Runs the built executable (the dependency makes `swift test` build it first).
        .testTarget(name: "CLITests", dependencies: ["vaecodec", "Codec"]),
    ]
)
