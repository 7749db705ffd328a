import Foundation
import Imaging
import NeuralNet
import VAE

/// The models a codec can use, by name, by family, or by the id in a .vae file's header. Each model file is read
/// only as far as the work needs: its header and tables to find and check a file's model, its weights to code.
///
/// Shipped models are package resources (Sources/Codec/Models), which SwiftPM copies beside the executable
/// as `vaecodec_Codec.resources/Models`; see `searchFolders` for where else they are looked for.
///
/// One VAE gives one operating point (its rate is pinned by its KL), so a domain ships as a *family*:
/// `faces.safetensors`, `faces-grid.safetensors`, ... The name `faces` means every member; rate control
/// picks the member and rung per image (`RateControl`). A member can also be named alone (`faces-grid`).
public final class ModelRegistry: @unchecked Sendable {
    public static let familyNames = ["faces", "digits"]

    /// Model names and their files, sorted by name.
    public let models: [(name: String, path: String)]
    private var handles: [String: Handle] = [:]
    private let lock = NSLock()

    public init(models: [(name: String, path: String)]) {
        self.models = models.sorted { $0.name < $1.name }
    }

    /// The shipped models, from the first search folder that holds any (none: an empty registry).
    public static func shipped() -> ModelRegistry {
        for folder in searchFolders {
            let files = ((try? Files.list(folder)) ?? []).filter { $0.hasSuffix(".safetensors") }
            if !files.isEmpty {
                return ModelRegistry(models: files.map { (name: String($0.dropLast(".safetensors".count)), path: folder + "/" + $0) })
            }
        }
        return ModelRegistry(models: [])
    }

    /// Where the shipped models are looked for, in order: `VAECODEC_MODELS`; the package's resource bundle
    /// (`Bundle.module`, which SwiftPM puts beside the program that links this library, as
    /// `vaecodec_Codec.resources` or `.bundle`); `../share/vaecodec/models` from the executable's folder
    /// (`make install`). `Bundle.module` is opened only when the bundle is there: SwiftPM's accessor ends the
    /// process when it is missing, as it is for a copied binary.
    static var searchFolders: [String] {
        var folders: [String] = []
        if let custom = ProcessInfo.processInfo.environment["VAECODEC_MODELS"] { folders.append(custom) }
        let besideProgram = ["vaecodec_Codec.resources", "vaecodec_Codec.bundle"].map { Bundle.main.bundleURL.appendingPathComponent($0).path }
        if besideProgram.contains(where: { FileManager.default.fileExists(atPath: $0) }),
           let models = Bundle.module.url(forResource: "Models", withExtension: nil) {
            folders.append(models.path)
        }
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            folders.append(executable.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/vaecodec/models").path)
        }
        return folders
    }

    /// This registry and the model file at `path` (named by its path), which is not read until needed.
    public func adding(path: String) -> ModelRegistry {
        ModelRegistry(models: models + [(name: path, path: path)])
    }

    /// The family a shipped model belongs to: `faces-grid` belongs to `faces`.
    public static func family(of name: String) -> String {
        familyNames.first { name == $0 || name.hasPrefix($0 + "-") } ?? name
    }

    /// The names of a family's members (`faces`, `digits`), of one member, or of every model (`auto`).
    public func names(_ selection: String) -> [String] {
        models.map(\.name).filter { selection == "auto" || Self.family(of: $0) == selection || $0 == selection }
    }

    /// The number of weights of the model called `name`, from its file's header.
    public func parameterCount(named name: String) throws -> Double { try handle(name).config().parameterCount }

    /// The canvas sides of the models `selection` names, from their headers (a path not in the registry is loaded).
    public func canvasSides(_ selection: String) throws -> [Int] {
        let members = names(selection)
        let sides = members.isEmpty ? try load(selection).map(\.canvas) : try members.map { try handle($0).config().canvas }
        return Set(sides).sorted()
    }

    /// The model called `name`, loaded on first use and kept.
    public func model(named name: String) throws -> CodecModel { try handle(name).model() }

    /// `faces` or `digits` (every member of the family), one member by name, `auto` (every model), or a model
    /// file's path.
    public func load(_ nameOrPath: String) throws -> [CodecModel] {
        let members = names(nameOrPath)
        if !members.isEmpty { return try members.map(model(named:)) }
        if Self.familyNames.contains(nameOrPath) || nameOrPath == "auto" {
            throw ImageError(file: nameOrPath, problem: "shipped models not found (looked in \(Self.searchFolders.joined(separator: ", "))); pass --model PATH or set VAECODEC_MODELS")
        }
        guard Files.exists(nameOrPath) else {
            throw ImageError(file: nameOrPath, problem: "no such model (use faces, digits, auto or a model file's path)")
        }
        return [try CodecModel.load(path: nameOrPath, name: nameOrPath)]
    }

    /// The models whose id is `id`, each with its tables and fingerprint. A model file that stores its fingerprint
    /// is read no further than its header unless its id matches; otherwise the whole model is loaded to compute it.
    func candidates(id: UInt8) throws -> [(name: String, ladder: RateLadder, fingerprint: UInt64)] {
        try models.compactMap { entry in
            let handle = try handle(entry.name)
            guard UInt8(truncatingIfNeeded: try handle.fingerprint()) == id else { return nil }
            let (ladder, fingerprint) = try handle.entropyModel()
            return (entry.name, ladder, fingerprint)
        }
    }

    /// Every model's name and id, for messages.
    func identities() -> [(name: String, id: UInt8)] {
        models.compactMap { entry in
            (try? handle(entry.name).fingerprint()).map { (entry.name, UInt8(truncatingIfNeeded: $0)) }
        }
    }

    private func handle(_ name: String) throws -> Handle {
        lock.lock()
        defer { lock.unlock() }
        if let handle = handles[name] { return handle }
        guard let entry = models.first(where: { $0.name == name }) else {
            throw ImageError(file: name, problem: "no such model (known: \(models.map(\.name).joined(separator: ", ")))")
        }
        let handle = Handle(name: entry.name, path: entry.path)
        handles[name] = handle
        return handle
    }

    /// One model file: its header opened on first use, its tables and weights each read once, when first needed.
    private final class Handle: @unchecked Sendable {
        let name: String, path: String
        private var file: SafeTensorsFile?
        private var tables: CodecTables?
        private var loaded: CodecModel?
        private let lock = NSLock()

        init(name: String, path: String) { (self.name, self.path) = (name, path) }

        private func openedFile() throws -> SafeTensorsFile {
            if let file { return file }
            let opened = try SafeTensorsFile(path: path)
            file = opened
            return opened
        }

        func config() throws -> VAEConfig {
            lock.lock()
            defer { lock.unlock() }
            if let loaded { return loaded.vae.config }
            return try ModelFile.config(of: try openedFile())
        }

        func fingerprint() throws -> UInt64 {
            lock.lock()
            if let loaded { lock.unlock(); return loaded.fingerprint }
            let stored = Result { try CodecTables.storedFingerprint(try openedFile()) }
            lock.unlock()
            if let value = try stored.get() { return value }
            return try entropyModel().fingerprint
        }

        func entropyModel() throws -> (ladder: RateLadder, fingerprint: UInt64) {
            lock.lock()
            defer { lock.unlock() }
            if let loaded { return (loaded.ladder, loaded.fingerprint) }
            let tables = try self.tables ?? CodecTables(try openedFile())
            self.tables = tables
            if let fingerprint = tables.storedFingerprint { return (tables.ladder, fingerprint) }
            let model = try load(tables)
            return (model.ladder, model.fingerprint)
        }

        func model() throws -> CodecModel {
            lock.lock()
            defer { lock.unlock() }
            if let loaded { return loaded }
            let tables = try self.tables ?? CodecTables(try openedFile())
            return try load(tables)
        }

        private func load(_ tables: CodecTables) throws -> CodecModel {
            let file = try openedFile()
            let weights = try ModelFile.load(file)
            let model = CodecModel(name: name, vae: weights.model, ladder: tables.ladder, training: weights.training,
                                   fingerprint: tables.storedFingerprint)
            (loaded, self.tables, self.file) = (model, nil, nil)  // the model holds all of it now; close the file
            return model
        }
    }
}

