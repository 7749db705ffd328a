import Foundation
import ImageIO

/// Where models come from: the ones shipped with vaecodec, by name, or any model file by path.
///
/// Shipped models are package resources (Sources/Codec/Models), which SwiftPM copies beside the executable
/// as `vaecodec_Codec.resources/Models`. They are found from the running executable's directory rather than
/// through `Bundle.module`, which would end the process if the bundle were missing; `VAECODEC_MODELS`
/// names another folder (an installed copy, say).
///
/// One VAE gives one operating point (its rate is pinned by its KL), so a domain ships as a *family*:
/// `faces.safetensors`, `faces-grid.safetensors`, ... The name `faces` means every member; rate control
/// picks the member and rung per image (`RateControl`). A member can also be named alone (`faces-grid`).
public enum ModelStore {
    public static let familyNames = ["faces", "digits"]

    static var searchFolders: [String] {
        var folders: [String] = []
        if let custom = ProcessInfo.processInfo.environment["VAECODEC_MODELS"] { folders.append(custom) }
        if let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let directory = (executable as NSString).deletingLastPathComponent
            folders.append(directory + "/vaecodec_Codec.resources/Models")
            folders.append(directory + "/vaecodec_Codec.resources")
        }
        return folders
    }

    /// Shipped model names and paths, from the first search folder that holds any, sorted by name.
    public static func shipped() -> [(name: String, path: String)] {
        for folder in searchFolders {
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".safetensors") }
            let models = files.map { (name: String($0.dropLast(".safetensors".count)), path: folder + "/" + $0) }
            if !models.isEmpty { return models.sorted { $0.name < $1.name } }
        }
        return []
    }

    /// The family a shipped model belongs to: `faces-grid` belongs to `faces`.
    public static func family(of name: String) -> String {
        familyNames.first { name == $0 || name.hasPrefix($0 + "-") } ?? name
    }

    /// `faces` or `digits` (every member of the family, the one named like the family first), one shipped
    /// member by name, or a model file's path.
    public static func load(_ nameOrPath: String) throws -> [CodecModel] {
        let members = shipped().filter { family(of: $0.name) == nameOrPath || $0.name == nameOrPath }
        if !members.isEmpty {
            return try members.map { try CodecModel.load(Files.read($0.path, limit: 1 << 30), name: $0.name, path: $0.path) }
        }
        if familyNames.contains(nameOrPath) {
            throw ImageError(file: nameOrPath, problem: "shipped model not found (looked in \(searchFolders.joined(separator: ", ")))")
        }
        guard Files.exists(nameOrPath) else {
            throw ImageError(file: nameOrPath, problem: "no such model (use faces, digits, auto or a model file's path)")
        }
        return [try CodecModel.load(Files.read(nameOrPath, limit: 1 << 30), name: nameOrPath, path: nameOrPath)]
    }

    /// Every shipped model that is present.
    public static func builtins() throws -> [CodecModel] {
        try shipped().map { try CodecModel.load(Files.read($0.path, limit: 1 << 30), name: $0.name, path: $0.path) }
    }
}

/// `--quality 1...100` as a price in decibels per bit: the encoder picks, per image, the model and rung that
/// minimise J = -PSNR + price * bits (PSNR of the 64x64 canvas, bits of the whole file), so a bit is spent
/// only where it buys at least `price` dB. A price in dB rather than in squared error (SSE + lambda * bits) treats
/// every image alike: at a fixed lambda, images the model already codes well (small SSE) are denied bits that
/// would raise their PSNR far more than the same bits raise a hard image's; minimising -PSNR + price * bits
/// image by image maximises the mean PSNR for the mean rate. The price falls geometrically from 0.1 dB per bit
/// at quality 1 (a little above the smallest candidates) to 10^-3.5 at quality 100, where a 64x64 file's
/// last 0.1 bpp must still buy 0.13 dB.
/// Among the candidates, a higher quality never picks a smaller file for the same image and models.
public enum QualityScale {
    public static let defaultQuality = 60

    public static func decibelsPerBit(forQuality quality: Int) -> Double {
        precondition((1...100).contains(quality))
        return pow(10, -1 - 2.5 * Double(quality - 1) / 99)
    }
}
