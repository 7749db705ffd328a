import VAECodecKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    if let decoded = try? ImageCodec.decode(bytes, name: "fuzz") {
        _ = Canvas.toCanvas(decoded.image.gray())
    }
    return 0
}
