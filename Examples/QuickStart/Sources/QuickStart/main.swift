import Foundation
import VAECodecKit

// Compress a PNG or JPEG face, decompress it, and denoise it: `swift run QuickStart face.png`.
let path = CommandLine.arguments.dropFirst().first ?? "face.png"
do {
    let codec = VAECodec()
    let compressed = try codec.compress(imageFile: try Files.read(path), name: path)
    let decoded = try codec.decompress(compressed.file, name: "face.vae")
    let denoised = try codec.denoise(decoded.image, sigma: 10)
    try Files.writeAtomically(try ImageCodec.encodePNG(denoised.image.image()), to: "face.decoded.png", overwrite: true)
    print("\(path): \(compressed.file.count) bytes by \(compressed.model.name), decoded \(decoded.image.width)x\(decoded.image.height)")
} catch {
    print("error: \(error)")  // VAECodecError: the file and the problem, in one line
    exit(1)
}
