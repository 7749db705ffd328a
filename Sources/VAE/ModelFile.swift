import Foundation
import NeuralNet

/// A VAE in a safetensors file. Weights are named as in PyTorch's state_dict ("encoder.0.weight", ...);
/// `__metadata__` holds the format tag and version, the config and the training record as JSON strings.
/// Checkpoints add Adam's moments ("adam.m.NAME", "adam.v.NAME") and step count; a codec model adds its
/// entropy tables under "codec.", and a hyperprior trained for it (Training/torch/hyperprior.py) its networks under
/// "hyperprior.". See docs/MODEL_FORMAT.md.
public struct ModelFile {
    public static let formatTag = "vaecodec-model"
    public static let formatVersion = 1

    public var model: VAEModel
    public var training: TrainingState?
    /// Tensors and metadata that belong to layers above the VAE (the codec's tables).
    public var extraTensors: [String: SafeTensors.Entry]
    public var metadata: [String: String]

    /// - weights: how the parameters are stored (`WeightStorage`); checkpoints stay F32.
    public static func serialize(_ model: VAEModel, training: TrainingState?, optimizerState: Bool = false,
                                 weights: WeightStorage = .float32, extraTensors: [(String, SafeTensors.Entry)] = [],
                                 extraMetadata: [String: String] = [:]) -> [UInt8] {
        var file = SafeTensors(metadata: extraMetadata)
        file.metadata["format"] = formatTag
        file.metadata["format_version"] = String(formatVersion)
        file.metadata["config"] = jsonString(model.config)
        if let training { file.metadata["training"] = jsonString(training) }
        for p in model.parameters {
            for (name, entry) in weights.entries(p.name, p.value.data, shape: p.value.shape) { file.add(name, entry) }
        }
        if optimizerState {
            let adam = model.optimizer
            file.metadata["adam_step"] = String(adam.stepCount)
            for (i, p) in adam.parameters.enumerated() {
                file.add("adam.m." + p.name, SafeTensors.Entry(adam.m[i], shape: p.value.shape))
                file.add("adam.v." + p.name, SafeTensors.Entry(adam.v[i], shape: p.value.shape))
            }
        }
        for (name, entry) in extraTensors { file.add(name, entry) }
        return file.serialized()
    }

    /// Reads and validates the model file at `path`, a tensor at a time (the file is never held whole).
    public static func load(path: String) throws -> ModelFile {
        try load(SafeTensorsFile(path: path))
    }

    /// Parses and validates a model file held in memory (see `load(_:)`).
    public static func load(_ bytes: [UInt8], name: String) throws -> ModelFile {
        try load(SafeTensorsFile(bytes: bytes, name: name))
    }

    /// The format tag and version and the config, from the header alone (no weights are read).
    public static func config(of file: SafeTensorsFile) throws -> VAEConfig {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: file.name, problem: problem) }
        guard file.metadata["format"] == formatTag else {
            throw fail("not a vaecodec model (safetensors metadata lacks format \"\(formatTag)\")")
        }
        guard let versionText = file.metadata["format_version"], let version = Int(versionText) else {
            throw fail("model format version missing")
        }
        guard version == formatVersion else {
            throw fail("model format version \(version) is not supported (this vaecodec reads version \(formatVersion))")
        }
        guard let configText = file.metadata["config"],
              let config = try? JSONDecoder().decode(VAEConfig.self, from: Data(configText.utf8)) else {
            throw fail("model config missing or malformed")
        }
        do { try config.validate() } catch { throw fail("\(error)") }
        return config
    }

    /// Parses and validates: format tag and version, a valid config, every parameter present with its
    /// exact shape, float dtype and finite values, and no unknown tensors outside "adam.", "codec." and "hyperprior.".
    public static func load(_ file: SafeTensorsFile) throws -> ModelFile {
        let name = file.name
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: name, problem: problem) }
        let config = try config(of: file)
        // Build nothing a file cannot hold: a tiny header could otherwise ask for terabytes of weights.
        let stored = file.tensors.values.reduce(0.0) { $0 + Double($1.shape.reduce(1, *)) }
        guard config.parameterCount <= 2 * stored + 1_000_000 else {  // slack: the per-tensor checks below name what is missing
            throw fail("config describes \(Int(config.parameterCount)) weights, but the file holds only \(Int(stored)) values")
        }
        let model: VAEModel
        do { model = try VAEModel(config: config, initialWeights: .zeros) } catch { throw fail("\(error)") }

        var known = Set<String>()
        for p in model.parameters {
            known.insert(p.name)
            guard let info = file[p.name] else { throw fail("tensor \"\(p.name)\" is missing") }
            guard info.shape == p.value.shape else { throw fail("tensor \"\(p.name)\" has shape \(info.shape), expected \(p.value.shape)") }
            if info.dtype == .i8 {
                let scaleName = p.name + WeightStorage.scaleSuffix
                known.insert(scaleName)
                guard let codes = try file.entry(p.name), let scales = try file.entry(scaleName), scales.shape == [info.shape[0]],
                      let rowScales = scales.floats, rowScales.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                    throw fail("tensor \"\(p.name)\" is I8 without a valid \"\(scaleName)\" (F32 or F16, one finite scale >= 0 per row)")
                }
                codes.bytes.withUnsafeBytes { bytes in
                    p.value.data.withUnsafeMutableBufferPointer {
                        WeightStorage.dequantize(bytes.assumingMemoryBound(to: Int8.self), rowScales: rowScales, into: $0)
                    }
                }
                continue
            }
            let read = try p.value.data.withUnsafeMutableBufferPointer { try file.readFloats(p.name, into: $0) }
            guard read else { throw fail("tensor \"\(p.name)\" has dtype \(info.dtype.rawValue), expected F32, F16 or I8") }
            guard p.value.data.allSatisfy(\.isFinite) else { throw fail("tensor \"\(p.name)\" holds non-finite values") }
        }
        if let stepText = file.metadata["adam_step"] {
            guard let step = Int(stepText), step >= 0 else { throw fail("adam_step \"\(stepText)\" is not a count") }
            let adam = model.optimizer
            adam.stepCount = step
            for (i, p) in adam.parameters.enumerated() {
                for (prefix, isFirstMoment) in [("adam.m.", true), ("adam.v.", false)] {
                    let key = prefix + p.name
                    known.insert(key)
                    guard let entry = try file.entry(key), entry.shape == p.value.shape, entry.dtype == .f32, let values = entry.floats else {
                        throw fail("checkpoint tensor \"\(key)\" is missing or malformed")
                    }
                    if isFirstMoment { adam.m[i] = values } else { adam.v[i] = values }
                }
            }
        }
        var extras: [String: SafeTensors.Entry] = [:]
        for key in file.names where !known.contains(key) {
            guard key.hasPrefix("codec.") || key.hasPrefix("hyperprior.") else { throw fail("unexpected tensor \"\(key)\" for a \(config.summary) model") }
            extras[key] = try file.entry(key)!
        }
        var training: TrainingState?
        if let text = file.metadata["training"] {
            guard let decoded = try? JSONDecoder().decode(TrainingState.self, from: Data(text.utf8)) else {
                throw fail("training record in the metadata is malformed")
            }
            training = decoded
        }
        return ModelFile(model: model, training: training, extraTensors: extras, metadata: file.metadata)
    }
}

/// How a model file stores its parameters.
public enum WeightStorage: String, Sendable, CaseIterable {
    /// F32: exact; checkpoints and training outputs.
    case float32
    /// F16: half the size, about 3 significant digits.
    case float16
    /// Weight matrices and kernels (two or more dimensions) as I8 codes q with one scale s per index of the first
    /// dimension, stored as "NAME.scale" (F32): w = q s, s = max |w| / 127 over the row, |q| <= 127. A quarter of
    /// F32's size; biases and other vectors stay F16.
    case int8

    static let scaleSuffix = ".scale"

    /// The tensors that store `values` (shape `shape`) under `name`.
    public func entries(_ name: String, _ values: [Float], shape: [Int]) -> [(String, SafeTensors.Entry)] {
        guard self == .int8, shape.count >= 2 else {
            return [(name, SafeTensors.Entry(values, shape: shape, halfPrecision: self != .float32))]
        }
        let (codes, scales) = Self.quantize(values, rows: shape[0])
        return [(name, SafeTensors.Entry(codes, shape: shape)), (name + Self.scaleSuffix, SafeTensors.Entry(scales, shape: [shape[0]]))]
    }

    /// The values a file stored this way gives back when loaded: what a model's fingerprint must be computed from.
    public func stored(_ values: [Float], shape: [Int]) -> [Float] {
        switch self {
        case .float32: return values
        case .float16: return values.map { Float(Float16($0)) }
        case .int8:
            guard shape.count >= 2 else { return values.map { Float(Float16($0)) } }
            let (codes, scales) = Self.quantize(values, rows: shape[0])
            return Self.dequantize(codes, rowScales: scales)
        }
    }

    static func quantize(_ values: [Float], rows: Int) -> (codes: [Int8], scales: [Float]) {
        let rowLength = values.count / rows
        var codes = [Int8](repeating: 0, count: values.count), scales = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let row = (r * rowLength)..<((r + 1) * rowLength)
            let scale = (values[row].map { abs($0) }.max() ?? 0) / 127
            scales[r] = scale
            guard scale > 0 else { continue }
            for i in row { codes[i] = Int8(max(-127, min(127, (values[i] / scale).rounded()))) }
        }
        return (codes, scales)
    }

    static func dequantize(_ codes: [Int8], rowScales: [Float]) -> [Float] {
        var values = [Float](repeating: 0, count: codes.count)
        codes.withUnsafeBufferPointer { q in values.withUnsafeMutableBufferPointer { dequantize(q, rowScales: rowScales, into: $0) } }
        return values
    }

    /// w = q s row by row (rows of codes.count / rowScales.count), so the inner loop vectorises: loading a model
    /// dequantizes millions of codes.
    static func dequantize(_ codes: UnsafeBufferPointer<Int8>, rowScales: [Float], into values: UnsafeMutableBufferPointer<Float>) {
        precondition(values.count == codes.count && (rowScales.isEmpty ? codes.isEmpty : codes.count % rowScales.count == 0))
        let rowLength = codes.count / max(1, rowScales.count)
        for (r, scale) in rowScales.enumerated() {
            for i in (r * rowLength)..<((r + 1) * rowLength) { values[i] = Float(codes[i]) * scale }
        }
    }
}

func jsonString<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try! encoder.encode(value), as: UTF8.self)
}
