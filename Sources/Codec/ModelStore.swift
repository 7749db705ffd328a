import Foundation
import ImageIO

/// Where models come from: the two shipped with vaecodec, by name, or any model file by path.
///
/// Shipped models are package resources (Sources/Codec/Models), which SwiftPM copies beside the executable
/// as `vaecodec_Codec.resources/Models`. They are found from the running executable's directory rather than
/// through `Bundle.module`, which would end the process if the bundle were missing; `VAECODEC_MODELS`
/// names another folder (an installed copy, say).
public enum ModelStore {
    public static let builtinNames = ["faces", "digits"]

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

    public static func builtinPath(_ name: String) -> String? {
        searchFolders.map { "\($0)/\(name).safetensors" }.first { Files.exists($0) }
    }

    /// `faces`, `digits`, or a path to a model file.
    public static func load(_ nameOrPath: String) throws -> CodecModel {
        if builtinNames.contains(nameOrPath) {
            guard let path = builtinPath(nameOrPath) else {
                throw ImageError(file: nameOrPath, problem: "shipped model not found (looked in \(searchFolders.joined(separator: ", ")))")
            }
            return try CodecModel.load(Files.read(path, limit: 1 << 30), name: nameOrPath, path: path)
        }
        guard Files.exists(nameOrPath) else {
            throw ImageError(file: nameOrPath, problem: "no such model (use faces, digits, auto or a model file's path)")
        }
        return try CodecModel.load(Files.read(nameOrPath, limit: 1 << 30), name: nameOrPath, path: nameOrPath)
    }

    /// Every shipped model that is present.
    public static func builtins() throws -> [CodecModel] {
        try builtinNames.filter { builtinPath($0) != nil }.map { try load($0) }
    }
}

/// `--quality 1...100` onto a model's rungs (coarsest first): equal shares of the scale per rung,
/// so 1 is the coarsest step and 100 the finest; the default, 60, is rung 4 of 8 (steps of 4 posterior sigmas).
public enum QualityScale {
    public static let defaultQuality = 60

    public static func rung(forQuality quality: Int, rungs: Int) -> Int {
        precondition((1...100).contains(quality) && rungs > 0)
        return min(rungs - 1, (quality - 1) * rungs / 100)
    }
}
