import Testing
@testable import ImageIO
@Test func placeholderImageIO() {}
