import VAECodecKit

/// The fixture models the golden .vae files were made with, so mutations of those files reach the payload decoder.
let fixtures = String(#filePath.split(separator: "/Fuzz/Sources/")[0]) + "/Fixtures/models/"
let registry = ModelRegistry(models: [
    (name: "tiny-faces", path: fixtures + "tiny-faces-32.safetensors"),
    (name: "tiny-digits", path: fixtures + "tiny-digits-32.safetensors"),
    (name: "tiny-faces-hyper", path: fixtures + "tiny-faces-32-hyper.safetensors"),
])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    _ = try? VAEFile.inspect(bytes, name: "fuzz.vae", registry: registry)
    _ = try? VAEFile.decompress(bytes, name: "fuzz.vae", registry: registry, maxOutputPixels: 1 << 16)
    return 0
}
