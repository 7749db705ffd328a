import Testing
@testable import EntropyCoding
@Test func placeholderEntropyCoding() {}
