import VAECodecKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    _ = try? CodecModel.load(bytes, name: "fuzz", path: "fuzz.safetensors")
    return 0
}
