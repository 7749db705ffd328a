import Testing
@testable import Codec
@Test func placeholderCodec() {}
