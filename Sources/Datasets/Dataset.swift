import CZlib
import Foundation
import Dispatch
import Imaging
import NeuralNet

/// How one training image is moved before the model sees it: mirrored left to right, then shifted by (dx, dy).
public struct Augmentation: Equatable, Sendable {
    public var mirrored = false
    public var dx = 0
    public var dy = 0
    public static let none = Augmentation()

    public init(mirrored: Bool = false, dx: Int = 0, dy: Int = 0) { (self.mirrored, self.dx, self.dy) = (mirrored, dx, dy) }
}

/// Images on the model canvas, held once in memory as UInt8 (a 64x64 LFW set is 46 MB).
public struct ImageDataset: Sendable {
    public let side: Int
    public private(set) var pixels: [UInt8]
    /// Who is in each image (folder-per-person data), so a split never puts one person on both sides.
    public private(set) var identities: [Int32]
    public let source: String

    public var count: Int { identities.count }
    public var pixelsPerImage: Int { side * side }

    public init(side: Int, pixels: [UInt8], identities: [Int32], source: String) {
        precondition(pixels.count == identities.count * side * side, "pixel count does not match the image count")
        self.side = side
        self.pixels = pixels
        self.identities = identities
        self.source = source
    }

    /// Writes the images at `indices` as values in 0...1 (pixel / 255), one after another, each moved as
    /// `augmentation(row)` says (training-time augmentation; evaluation passes none).
    public func fill(_ batch: UnsafeMutableBufferPointer<Float>, with indices: ArraySlice<Int>,
                     augmentation: (Int) -> Augmentation = { _ in .none }) {
        let n = pixelsPerImage
        precondition(batch.count >= indices.count * n)
        pixels.withUnsafeBufferPointer { source in
            for (row, index) in indices.enumerated() {
                let from = source.baseAddress! + index * n, to = batch.baseAddress! + row * n
                let move = augmentation(row)
                if move == .none {
                    for i in 0..<n { to[i] = Float(from[i]) * (1 / 255) }
                    continue
                }
                // Shifted-in pixels repeat the edge: a face moved by a pixel or two keeps its background's tone.
                for y in 0..<side {
                    let sy = min(side - 1, max(0, y - move.dy))
                    for x in 0..<side {
                        var sx = min(side - 1, max(0, x - move.dx))
                        if move.mirrored { sx = side - 1 - sx }
                        to[y * side + x] = Float(from[sy * side + sx]) * (1 / 255)
                    }
                }
            }
        }
    }

    public func subset(_ indices: [Int]) -> ImageDataset {
        var out = [UInt8]()
        out.reserveCapacity(indices.count * pixelsPerImage)
        for i in indices { out.append(contentsOf: pixels[(i * pixelsPerImage)..<((i + 1) * pixelsPerImage)]) }
        return ImageDataset(side: side, pixels: out, identities: indices.map { identities[$0] }, source: source)
    }

    /// Holds out about `fraction` of the images, whole identities at a time, chosen by `seed`.
    public func splitByIdentity(validationFraction fraction: Double, seed: UInt64) -> (train: ImageDataset, validation: ImageDataset) {
        var people = Array(Set(identities)).sorted()
        var rng = SplitMix64(seed: seed)
        people.shuffle(using: &rng)
        var perPerson: [Int32: Int] = [:]
        for id in identities { perPerson[id, default: 0] += 1 }
        let wanted = Int((Double(count) * fraction).rounded())
        var heldOut = Set<Int32>(), taken = 0
        for person in people where taken < wanted {
            heldOut.insert(person)
            taken += perPerson[person]!
        }
        let validation = (0..<count).filter { heldOut.contains(identities[$0]) }
        let train = (0..<count).filter { !heldOut.contains(identities[$0]) }
        return (subset(train), subset(validation))
    }
}

/// Where training and evaluation images come from.
///
/// - an MNIST IDX image file (`*-idx3-ubyte`, gzip or raw): every image its own identity;
/// - a folder holding MNIST's `train-images-idx3-ubyte[.gz]` and `t10k-images-idx3-ubyte[.gz]`: the standard
///   train/test split, the test set as validation;
/// - a folder of PNG/JPEG images, searched recursively; images in one sub-folder share an identity (LFW keeps
///   one folder per person), so validation holds out whole people.
public struct DatasetSpec: Sendable {
    public var path: String
    public var crop: Int?
    public var side: Int
    public var limit: Int?

    public init(path: String, crop: Int? = nil, side: Int = Canvas.defaultSide, limit: Int? = nil) {
        self.path = path
        self.crop = crop
        self.side = side
        self.limit = limit
    }

    /// The MNIST train/test pair inside a folder, if there is one.
    public var mnistPair: (train: String, test: String)? {
        guard Files.isDirectory(path) else { return nil }
        func find(_ stem: String) -> String? {
            [stem + ".gz", stem].map { "\(path)/\($0)" }.first(where: Files.exists)
        }
        guard let train = find("train-images-idx3-ubyte"), let test = find("t10k-images-idx3-ubyte") else { return nil }
        return (train, test)
    }

    /// Loads every image onto the canvas. `progress(done, total)` is called now and then for long loads.
    public func load(progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> ImageDataset {
        if Files.isDirectory(path) { return try loadFolder(progress: progress) }
        return try loadIDX(path)
    }

    public func loadIDX(_ file: String) throws -> ImageDataset {
        let bytes = try IDXFile.images(try Gzip.decompressIfNeeded(Files.read(file, limit: IDXFile.maxBytes), name: file, limit: IDXFile.maxBytes), name: file, limit: limit)
        let count = bytes.count
        guard bytes.side != side else {
            return ImageDataset(side: side, pixels: bytes.pixels, identities: (0..<count).map(Int32.init), source: file)
        }
        var pixels = [UInt8](repeating: 0, count: count * side * side)
        let n = bytes.side * bytes.side, m = side * side
        for i in 0..<count {
            let image = GrayImage(width: bytes.side, height: bytes.side, pixels: bytes.pixels[(i * n)..<((i + 1) * n)].map(Float.init))
            pixels.replaceSubrange((i * m)..<((i + 1) * m), with: Canvas.resize(image, width: side, height: side).bytes())
        }
        return ImageDataset(side: side, pixels: pixels, identities: (0..<count).map(Int32.init), source: file)
    }

    private func loadFolder(progress: @Sendable (Int, Int) -> Void) throws -> ImageDataset {
        var files: [(path: String, identity: String)] = []
        func walk(_ directory: String, identity: String?) throws {
            for name in try Files.list(directory) where !name.hasPrefix(".") {
                let full = "\(directory)/\(name)"
                if Files.isDirectory(full) {
                    try walk(full, identity: identity ?? name)
                } else if ImageFormat(pathExtension: name) != nil {
                    files.append((full, identity ?? full))
                }
            }
        }
        try walk(path, identity: nil)
        if let limit { files = Array(files.prefix(limit)) }
        guard !files.isEmpty else { throw ImageError(file: path, problem: "no PNG or JPEG images in this folder") }

        var identityIndex: [String: Int32] = [:]
        let identities = files.map { file in
            if let known = identityIndex[file.identity] { return known }
            let next = Int32(identityIndex.count)
            identityIndex[file.identity] = next
            return next
        }
        // Decoding dominates; both cores share it. Each image lands in its own slot, so the result is ordered.
        let m = side * side, paths = files.map(\.path), crop = crop, side = side
        let results = SharedBuffer(count: paths.count * m)
        let failures = ErrorSlot()
        let chunk = 64
        let done = Counter()
        DispatchQueue.concurrentPerform(iterations: (paths.count + chunk - 1) / chunk) { c in
            for i in (c * chunk)..<min(paths.count, (c + 1) * chunk) where failures.first == nil {
                do {
                    let canvas = try ImageCodec.decodeCanvases(Files.read(paths[i]), name: paths[i], sides: [side]) {
                        Canvas.centralSquare(width: $0, height: $1, crop: crop)
                    }.canvases[0]
                    results.write(canvas.bytes(), at: i * m)
                } catch {
                    failures.record(error)
                }
            }
            progress(done.add(min(chunk, paths.count - c * chunk)), paths.count)
        }
        if let error = failures.first { throw error }
        return ImageDataset(side: side, pixels: results.array(), identities: identities,
                            source: "\(path): \(files.count) images of \(identityIndex.count) identities")
    }
}

extension DatasetSpec {
    /// The one split into training and held-out images that `train`, `bench` and `calibrate` share, so "never measured
    /// on training images" rests on one function. MNIST folders keep their own train and t10k files; image folders
    /// and single IDX files hold out whole people (`splitByIdentity`), `validationFraction` of them, chosen by `seed`.
    public func loadSplit(validationFraction: Double, seed: UInt64,
                          progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> (train: ImageDataset, heldOut: ImageDataset) {
        if let pair = mnistPair { return (try loadIDX(pair.train), try loadIDX(pair.test)) }
        let split = try load(progress: progress).splitByIdentity(validationFraction: validationFraction, seed: seed)
        return (split.train, split.validation)
    }
}

extension DatasetSpec {
    /// What `writeSplit` records beside the images (`split.json`), so a trainer elsewhere can store the same training
    /// record as `vaecodec train` does, and `calibrate` and `bench` rebuild the same split from the original data.
    public struct SplitRecord: Codable, Equatable, Sendable {
        /// The data the split was made from, as given.
        public var source: String
        public var crop: Int?
        public var canvas: Int
        public var limit: Int?
        public var validationFraction: Double
        public var seed: UInt64
        public var trainImages: Int
        public var heldOutImages: Int
    }

    /// The file names `writeSplit` uses: MNIST's, so the folder is itself data that `train`, `calibrate` and `bench`
    /// read as an already-split pair.
    public static let splitFiles = (train: "train-images-idx3-ubyte", heldOut: "t10k-images-idx3-ubyte", record: "split.json")

    /// Writes ``loadSplit(validationFraction:seed:progress:)``'s two halves into `folder` as uncompressed IDX files (the
    /// canvases exactly as training sees them, one byte per pixel) and its ``SplitRecord`` as `split.json`.
    /// - Throws: when the data cannot be read, or a file exists and `overwrite` is false (nothing is written then).
    @discardableResult
    public func writeSplit(to folder: String, validationFraction: Double, seed: UInt64, overwrite: Bool,
                           progress: @Sendable (Int, Int) -> Void = { _, _ in }) throws -> SplitRecord {
        let files = Self.splitFiles
        let paths = [files.train, files.heldOut, files.record].map { "\(folder)/\($0)" }
        if !overwrite, let existing = paths.first(where: Files.exists) {
            throw ImageError(file: existing, problem: "already exists (overwrite it)")
        }
        let (train, heldOut) = try loadSplit(validationFraction: validationFraction, seed: seed, progress: progress)
        let record = SplitRecord(source: path, crop: crop, canvas: side, limit: limit, validationFraction: validationFraction,
                                 seed: seed, trainImages: train.count, heldOutImages: heldOut.count)
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw ImageError(file: folder, problem: "cannot create this folder")
        }
        try Files.writeAtomically(IDXFile.serialize(train), to: paths[0], overwrite: overwrite)
        try Files.writeAtomically(IDXFile.serialize(heldOut), to: paths[1], overwrite: overwrite)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Files.writeAtomically(Array(try encoder.encode(record)) + [10], to: paths[2], overwrite: overwrite)
        return record
    }
}

/// MNIST's IDX image format: magic 0x00000803, then count, rows, columns as big-endian UInt32, then pixels.
enum IDXFile {
    static func serialize(_ data: ImageDataset) -> [UInt8] {
        let header = [0x803, data.count, data.side, data.side].flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (24 - 8 * $0)) } }
        return header + data.pixels
    }

    /// The largest IDX file read, compressed or not: 1 GiB (MNIST's training images are 47 MB).
    static let maxBytes = 1 << 30

    static func images(_ bytes: [UInt8], name: String, limit: Int?) throws -> (pixels: [UInt8], side: Int, count: Int) {
        func word(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        guard bytes.count >= 16, word(0) == 0x803 else {
            throw ImageError(file: name, problem: "not an IDX image file (expected magic 2051)")
        }
        let count = word(4), rows = word(8), columns = word(12)
        guard rows == columns, (1...1024).contains(rows) else {
            throw ImageError(file: name, problem: "IDX images are \(rows)x\(columns); only square images are supported")
        }
        guard bytes.count == 16 + count * rows * columns else {
            throw ImageError(file: name, problem: "IDX file holds \(bytes.count - 16) pixel bytes, header promises \(count * rows * columns)")
        }
        let kept = min(count, limit ?? count)
        return (Array(bytes[16..<(16 + kept * rows * columns)]), rows, kept)
    }
}

enum Gzip {
    /// The bytes, inflated if they are gzip data; inflating stops with an error past `limit` bytes.
    static func decompressIfNeeded(_ bytes: [UInt8], name: String, limit: Int) throws -> [UInt8] {
        guard bytes.starts(with: [0x1F, 0x8B]) else { return bytes }
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip wrapper.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw ImageError(file: name, problem: "zlib failed to start")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var input = bytes
        var status: Int32 = Z_OK
        var tooLarge = false
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            repeat {
                chunk.withUnsafeMutableBufferPointer { target in
                    stream.next_out = target.baseAddress
                    stream.avail_out = UInt32(target.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                }
                out.append(contentsOf: chunk[0..<(chunk.count - Int(stream.avail_out))])
                tooLarge = out.count > limit
            } while status == Z_OK && !tooLarge
        }
        if tooLarge { throw ImageError(file: name, problem: "gzip data inflates to over \(limit) bytes") }
        guard status == Z_STREAM_END else { throw ImageError(file: name, problem: "damaged or truncated gzip data") }
        return out
    }
}

private final class ErrorSlot: @unchecked Sendable {
    private let lock = DispatchQueue(label: "error-slot")
    private var stored: Error?
    var first: Error? { lock.sync { stored } }
    func record(_ error: Error) { lock.sync { if stored == nil { stored = error } } }
}

private final class Counter: @unchecked Sendable {
    private let lock = DispatchQueue(label: "counter")
    private var value = 0
    func add(_ n: Int) -> Int { lock.sync { value += n; return value } }
}

/// Disjoint slices written from several threads; nothing reads until all writers are done.
private final class SharedBuffer: @unchecked Sendable {
    private let base: UnsafeMutablePointer<UInt8>
    init(count: Int) {
        base = .allocate(capacity: count)
        base.initialize(repeating: 0, count: count)
        self.count = count
    }
    let count: Int
    deinit { base.deallocate() }
    func write(_ bytes: [UInt8], at offset: Int) {
        bytes.withUnsafeBufferPointer { (base + offset).update(from: $0.baseAddress!, count: $0.count) }
    }
    func array() -> [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
