// swift-tools-version: 6.1
// libFuzzer targets for the parsers of untrusted input, kept in their own package so the main build does not carry
// the sanitizers. Build and run with ./run.sh (see README.md in this folder).
import PackageDescription

let package = Package(
    name: "vaecodec-fuzz",
    dependencies: [
        .package(path: "vaecodec"),  // a link to the repository root, so the package is named vaecodec wherever it is cloned
    ],
    targets: [
        // A .vae file through the container, the entropy decoder and the decoder network, against the fixture models.
        .executableTarget(name: "FuzzVAEFile", dependencies: [.product(name: "VAECodecKit", package: "vaecodec")]),
        // PNG and JPEG bytes through the C shim (libpng, libjpeg-turbo) and the conversion to gray.
        .executableTarget(name: "FuzzImage", dependencies: [.product(name: "VAECodecKit", package: "vaecodec")]),
        // A model file through the safetensors reader, the architecture check and the codec tables.
        .executableTarget(name: "FuzzModelFile", dependencies: [.product(name: "VAECodecKit", package: "vaecodec")]),
    ]
)
