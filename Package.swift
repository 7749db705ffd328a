// swift-tools-version: 6.1
// The module graph is the architecture (each module, then what it builds on):
//   CImageShim (C, owns setjmp/longjmp)              libpng, libjpeg
//   Imaging (PNG/JPEG, gray images, canvas)          CImageShim
//   CGemm (C, reproducible matrix products)          -
//   SIMDSupport (8-wide float helpers, internal)     -
//   NeuralNet (tensors, layers, Adam)                CGemm, SIMDSupport; OpenBLAS, loaded as the speed reference
//   Datasets (IDX, gzip, image folders, the split)   Imaging, NeuralNet, zlib
//   VAE (architecture spec, model, ELBO, training)   NeuralNet, Datasets
//   EntropyCoding (rANS, frequency tables, CRC-32)   -
//   Codec (quantisation, container, rate control)    VAE, EntropyCoding, Imaging
//   ImageFilters (DCT Wiener, Gaussian blur)         Imaging, SIMDSupport
//   Denoising (the VAE as a prior)                   VAE, ImageFilters
//   VAECodecKit (the public library: one entry point per job, one error type)   all of the above
//   Evaluation (metrics, baselines, reports)         VAECodecKit
//   vaecodec (the CLI: arguments, files, printing)   VAECodecKit, Evaluation
import PackageDescription

// No unsafe flags (-Ounchecked, -O in debug, -O3 for C): SwiftPM refuses them in a package used by version, and
// they bought 5% of batch compression speed. The price is a slower debug test suite.

let package = Package(
    name: "vaecodec",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "vaecodec", targets: ["vaecodec"]),
        // The library: `import VAECodecKit` gives compress, decompress, inspect, denoise and train (see its DocC).
        .library(name: "VAECodecKit", targets: ["VAECodecKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `swift package generate-documentation --target VAECodecKit` (the DocC catalog in Sources/VAECodecKit).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // System libraries, found through pkg-config; `providers` tells SwiftPM which apt package is missing.
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng16", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CLibJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // The only code that calls libpng/libjpeg: their errors longjmp, which Swift cannot survive.
        .target(name: "CImageShim", dependencies: ["CLibPNG", "CLibJPEG"]),

        .target(name: "Imaging", dependencies: ["CImageShim"]),
        // Reproducible matrix products (see vc_gemm.h).
        .target(name: "CGemm"),
        // 8-wide SIMD helpers shared by the numeric modules; package-internal, not part of the library's API.
        .target(name: "SIMDSupport"),
        .target(name: "NeuralNet", dependencies: ["CGemm", "SIMDSupport"]),
        .target(name: "Datasets", dependencies: ["Imaging", "NeuralNet", "CZlib"]),
        .target(name: "VAE", dependencies: ["NeuralNet", "Datasets", "Imaging", "SIMDSupport"]),
        .target(name: "EntropyCoding"),
        // The shipped models (faces, digits) travel as resources; see ModelRegistry for how they are found.
        .target(name: "Codec", dependencies: ["VAE", "Datasets", "Imaging", "EntropyCoding"], resources: [.copy("Models")]),
        // Classical filters on gray images (DCT Wiener, Gaussian blur).
        .target(name: "ImageFilters", dependencies: ["Imaging", "SIMDSupport"]),
        .target(name: "Denoising", dependencies: ["VAE", "Imaging", "ImageFilters"]),
        .target(name: "VAECodecKit", dependencies: ["Imaging", "NeuralNet", "Datasets", "VAE", "EntropyCoding", "Codec", "Denoising"]),
        .target(name: "Evaluation", dependencies: ["VAECodecKit", "ImageFilters"]),
        .executableTarget(
            name: "vaecodec",
            dependencies: [
                "VAECodecKit", "Evaluation", "ImageFilters",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "SIMDSupport"]),
        .testTarget(name: "VAETests", dependencies: ["VAE", "Datasets", "Codec"]),
        .testTarget(name: "EntropyCodingTests", dependencies: ["EntropyCoding"]),
        .testTarget(name: "CodecTests", dependencies: ["VAECodecKit", "ImageFilters"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation"]),
        // Runs the built executable (the dependency makes `swift test` build it first).
        .testTarget(name: "CLITests", dependencies: ["vaecodec", "VAECodecKit"]),
    ]
)
