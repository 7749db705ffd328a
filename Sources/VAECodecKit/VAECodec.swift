@_exported import Codec
@_exported import Datasets
@_exported import Denoising
@_exported import Imaging
@_exported import NeuralNet
@_exported import VAE

/// vaecodec as a library: one entry point for each job the command-line tool does, over one set of models.
///
/// ```swift
/// let codec = VAECodec()                                  // the shipped models; VAECODEC_MODELS overrides
/// let file = try codec.compress(imageFile: pngBytes, name: "face.png").file
/// let face = try codec.decompress(file, name: "face.vae").image
/// let clean = try codec.denoise(noisyFace).image
/// ```
///
/// Every entry point takes and returns plain values, loads only the models its input needs, and throws
/// ``VAECodecError`` naming the input and the problem. Results are the same bytes and pixels the `vaecodec` commands
/// produce, which call these same functions.
public struct VAECodec: Sendable {
    /// The models this codec chooses from and finds files' models in.
    public let models: ModelRegistry

    /// A codec over `models`: by default the shipped faces and digits families (`ModelRegistry/shipped()`).
    public init(models: ModelRegistry = .shipped()) { self.models = models }

    /// The registry plus the model file `selection` names, when it names a file rather than shipped models.
    /// - Throws: ``VAECodecError`` when `selection` is neither a shipped name nor an existing file.
    public func registry(for selection: String) throws(VAECodecError) -> ModelRegistry {
        guard selection != "auto", models.names(selection).isEmpty, !ModelRegistry.familyNames.contains(selection) else { return models }
        guard Files.exists(selection) else {
            throw VAECodecError(file: selection, problem: "no such model (use faces, digits, auto, a member's name or a model file's path)")
        }
        return models.adding(path: selection)
    }

    // MARK: Compress

    /// How ``compress(_:options:)`` codes an image.
    public struct CompressionOptions: Sendable {
        /// `auto` (every shipped model; each image's family is chosen first), a family (`faces`, `digits`), a member
        /// (`faces-grid`), or a model file's path.
        public var model: String
        /// The quality (1-100) or the bits per pixel to aim at.
        public var target: RateTarget
        /// How hard the encoder searches and refines.
        public var effort: Effort
        /// Adam steps refining the chosen symbols, overriding the effort's (0: round the encoder's mean).
        public var refineSteps: Int?
        /// Code only the central square of this side; the file restores that square's size. Nil: the whole image.
        public var crop: Int?

        public init(model: String = "auto", target: RateTarget = .quality(QualityScale.defaultQuality), effort: Effort = .default,
                    refineSteps: Int? = nil, crop: Int? = nil) {
            (self.model, self.target, self.effort, self.refineSteps, self.crop) = (model, target, effort, refineSteps, crop)
        }

        var settings: EncoderSettings { EncoderSettings(effort: effort, refineSteps: refineSteps) }
    }

    /// An image file read for coding: already reduced to the canvases its models need, a row at a time.
    public struct ImageInput {
        /// What the encoder codes.
        public var encoderInput: EncoderInput
        /// The size of the region the file will restore.
        public var width: Int
        public var height: Int
        /// The file had colour, which the codec drops (it codes gray).
        public var wasColour: Bool
    }

    /// Reads a PNG or JPEG file's pixels for `options.model`'s canvases, without holding the whole image.
    /// - Parameters:
    ///   - bytes: the encoded image.
    ///   - name: the file's name, for messages.
    ///   - options: the models whose canvases to make, and the crop.
    /// - Throws: ``VAECodecError`` when the image is damaged, unsupported, larger than the readers' limits, or
    ///   smaller than `options.crop`.
    public func read(imageFile bytes: [UInt8], name: String, options: CompressionOptions = .init()) throws(VAECodecError) -> ImageInput {
        try VAECodecError.naming(name) {
            try Self.check(crop: options.crop, name: name)
            let sides = try registry(for: options.model).canvasSides(options.model)
            var tooSmall: (width: Int, height: Int)?
            let read = try ImageCodec.decodeCanvases(bytes, name: name, sides: sides) { width, height in
                if let crop = options.crop, crop > min(width, height) { tooSmall = (width, height) }
                // A refused image is read as one row's worth, then the error below is thrown.
                return Canvas.codedRegion(width: width, height: height, crop: tooSmall == nil ? options.crop : 1)
            }
            if let tooSmall, let crop = options.crop {
                throw VAECodecError(file: name, problem: "crop \(crop) is larger than the image (\(tooSmall.width)x\(tooSmall.height))")
            }
            return ImageInput(encoderInput: EncoderInput(canvases: read.canvases, width: read.width, height: read.height,
                                                         hint: read.format == .jpeg ? .jpeg : .png),
                              width: read.width, height: read.height, wasColour: read.channels >= 3)
        }
    }

    /// A crop is a positive side.
    static func check(crop: Int?, name: String) throws(VAECodecError) {
        if let crop, crop < 1 { throw VAECodecError(file: name, problem: "crop \(crop) is not a positive side") }
    }

    /// Codes images read by ``read(imageFile:name:options:)`` together (batched on both cores); each file is the
    /// same as coding it alone.
    /// - Parameters:
    ///   - inputs: the images, as read with the same `options`.
    ///   - options: the models, the target and the effort.
    /// - Returns: for each input, the file and how it was made (model, rung, PSNR on the canvas, size).
    /// - Throws: ``VAECodecError`` when a model cannot be loaded.
    public func compress(_ inputs: [ImageInput], options: CompressionOptions = .init()) throws(VAECodecError) -> [EncodingChoice] {
        try VAECodecError.naming(options.model) {
            try BatchEncoder.encode(inputs.map(\.encoderInput), registry: registry(for: options.model), selection: options.model,
                                    target: options.target, settings: options.settings)
        }
    }

    /// Compresses a PNG or JPEG file's bytes to a .vae file (`EncodingChoice.file`), reading the image a row at a time.
    /// - Parameters:
    ///   - bytes: the encoded image.
    ///   - name: the file's name, for messages.
    ///   - options: the models, the target, the effort and the crop.
    /// - Returns: the file and how it was made (model, rung, PSNR on the canvas, size).
    /// - Throws: ``VAECodecError`` as ``read(imageFile:name:options:)`` and ``compress(_:options:)`` do.
    public func compress(imageFile bytes: [UInt8], name: String, options: CompressionOptions = .init()) throws(VAECodecError) -> EncodingChoice {
        try compress([read(imageFile: bytes, name: name, options: options)], options: options)[0]
    }

    /// Compresses pixels to a .vae file.
    /// - Parameters:
    ///   - image: gray pixels, 0...255, any size (resized to the model's canvas; the file restores the size).
    ///   - format: the format `decompress` should suggest for the output.
    ///   - options: the models, the target, the effort and the crop.
    /// - Returns: the file and how it was made.
    /// - Throws: ``VAECodecError`` when the crop is larger than the image or a model cannot be loaded.
    public func compress(_ image: GrayImage, format: ImageFormat = .png, options: CompressionOptions = .init()) throws(VAECodecError) -> EncodingChoice {
        try Self.check(crop: options.crop, name: "image")
        if let crop = options.crop, crop > min(image.width, image.height) {
            throw VAECodecError(file: "image", problem: "crop \(crop) is larger than the image (\(image.width)x\(image.height))")
        }
        let input = ImageInput(encoderInput: EncoderInput(image: image, crop: options.crop, hint: format == .jpeg ? .jpeg : .png),
                               width: image.width, height: image.height, wasColour: false)
        return try compress([input], options: options)[0]
    }

    // MARK: Decompress and inspect

    /// Decodes a .vae file to its image, at the size in its header, with the model whose id the header holds.
    /// - Parameters:
    ///   - bytes: the .vae file.
    ///   - name: the file's name, for messages.
    ///   - maxOutputPixels: files that declare a larger output are refused before any work (at most
    ///     `VAEFile.maxOutputPixels`).
    /// - Throws: ``VAECodecError`` when the file is malformed, damaged, too large, or made by a model this codec
    ///   does not have.
    public func decompress(_ bytes: [UInt8], name: String, maxOutputPixels: Int = VAEFile.defaultMaxOutputPixels) throws(VAECodecError) -> VAEFile.Decoded {
        try VAECodecError.naming(name) { try VAEFile.decompress(bytes, name: name, registry: models, maxOutputPixels: maxOutputPixels) }
    }

    /// Decodes many files in batches on both cores; a file that fails has its error as its result. The images are
    /// the ones ``decompress(_:name:maxOutputPixels:)`` gives each file alone.
    public func decompress(files: [(bytes: [UInt8], name: String)],
                           maxOutputPixels: Int = VAEFile.defaultMaxOutputPixels) -> [Result<VAEFile.Decoded, VAECodecError>] {
        zip(files, VAEFile.decompress(files, registry: models, maxOutputPixels: maxOutputPixels)).map { file, result in
            result.mapError { VAECodecError($0, name: file.name) }
        }
    }

    /// A .vae file's header, and whether one of this codec's models decodes it and passes its integrity check
    /// (without reading any weights).
    /// - Throws: ``VAECodecError`` when the header is malformed; a failed check is reported in the result.
    public func inspect(_ bytes: [UInt8], name: String) throws(VAECodecError) -> VAEFile.Inspection {
        try VAECodecError.naming(name) { try VAEFile.inspect(bytes, name: name, registry: models) }
    }

    // MARK: Denoise

    /// The priors `selection` names: shipped models (`auto`, a family, a member) or any VAE model file's network,
    /// with or without codec tables.
    public func priors(_ selection: String) throws(VAECodecError) -> [Prior] {
        try VAECodecError.naming(selection) {
            // A model file (also one added to the registry under its path) is read as a plain VAE: it needs no tables.
            let member = models.models.first { $0.name == selection }
            if member.map({ $0.path == selection }) ?? (selection != "auto" && !ModelRegistry.familyNames.contains(selection)) {
                guard Files.exists(selection) else {
                    throw VAECodecError(file: selection, problem: "no such model (use faces, digits, auto, a member's name or a model file's path)")
                }
                let file = try ModelFile.load(path: selection)
                return [Prior(name: selection, vae: file.model, heldOutNegativeELBO: file.training?.history.last?.validationNegativeELBO)]
            }
            return try models.load(selection).map(Prior.init)
        }
    }

    /// Removes Gaussian noise from images with the VAE as the prior (`Denoiser/denoise(_:sigmas:models:batchSize:workers:)`):
    /// each image's prior is chosen among `model`'s, and an image the prior cannot draw gets the classical filter,
    /// flagged by `Denoiser/Outcome/outOfDomain`.
    /// - Parameters:
    ///   - images: gray images, 0...255, each at most `Denoiser.maxPixels` pixels.
    ///   - sigmas: each image's noise deviation in 8-bit units; nil estimates it from the image (`NoiseEstimator`).
    ///   - model: as ``CompressionOptions/model``, or any VAE model file.
    /// - Returns: the denoised images, each with the sigma used and how the prior fitted.
    /// - Throws: ``VAECodecError`` when an image is larger than `Denoiser/maxPixels` or the model cannot be loaded.
    public func denoise(_ images: [GrayImage], sigmas: [Double?]? = nil, model: String = "auto") throws(VAECodecError) -> [Denoised] {
        let sigmas = sigmas ?? images.map { _ in nil }
        precondition(sigmas.count == images.count, "one sigma (or nil) per image")
        for (i, image) in images.enumerated() where image.width * image.height > Denoiser.maxPixels {
            throw VAECodecError(file: "image \(i)", problem: "is \(image.width)x\(image.height), over the \(Denoiser.maxPixels)-pixel limit of denoise")
        }
        let noise = zip(images, sigmas).map { image, sigma in sigma ?? NoiseEstimator.sigma(image) }
        let outcomes = Denoiser.denoise(images, sigmas: noise, models: try priors(model))
        return zip(outcomes, noise).map { Denoised(outcome: $0, sigma: $1) }
    }

    /// Denoises one image; see ``denoise(_:sigmas:model:)``.
    public func denoise(_ image: GrayImage, sigma: Double? = nil, model: String = "auto") throws(VAECodecError) -> Denoised {
        try denoise([image], sigmas: [sigma], model: model)[0]
    }

    /// One denoised image.
    public struct Denoised {
        /// What the denoiser made of the image: the estimate, the prior used, its fit, and whether it fell back.
        public var outcome: Denoiser.Outcome
        /// The noise deviation used, in 8-bit units (given, or estimated).
        public var sigma: Double
        /// The estimate at the input's size, 0...255.
        public var image: GrayImage { outcome.image }

        /// The standard deviation of each pixel under the prior's posterior around its fit (8-bit units), for
        /// `image`, the noisy input this result came from.
        public func uncertainty(of image: GrayImage) -> GrayImage {
            BLAS.withThreads(1) { Denoiser(model: outcome.model).uncertainty(image, sigma: max(sigma, Denoiser.minimumSigma), fit: outcome.fit) }
        }
    }
}

/// The one error the library throws: which input and what is wrong with it, in words for the user.
public struct VAECodecError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file (or input, or model) the problem is in.
    public var file: String
    /// What is wrong, in words for the user.
    public var problem: String
    public var description: String { "\(file): \(problem)" }

    public init(file: String, problem: String) { (self.file, self.problem) = (file, problem) }

    /// Any error of the modules below, as a `VAECodecError`; those that do not name a file are given `name`.
    public init(_ error: any Error, name: String) {
        switch error {
        case let error as VAECodecError: self = error
        case let error as ImageError: self.init(file: error.file, problem: error.problem)
        case let error as ContainerError: self.init(file: error.file, problem: error.problem)
        case let error as SafeTensorsError: self.init(file: error.file, problem: error.problem)
        default: self.init(file: name, problem: "\(error)")
        }
    }

    /// Runs `body`, turning what it throws into a `VAECodecError`.
    static func naming<T>(_ name: String, _ body: () throws -> T) throws(VAECodecError) -> T {
        do { return try body() } catch { throw VAECodecError(error, name: name) }
    }
}

extension Prior {
    /// A codec model's network as a prior, in its family, ranked by its recorded held-out ELBO.
    public init(_ model: CodecModel) {
        self.init(name: model.name, vae: model.vae, family: ModelRegistry.family(of: model.name),
                  heldOutNegativeELBO: model.training?.history.last?.validationNegativeELBO)
    }
}
