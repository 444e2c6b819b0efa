// swift-tools-version:6.0
import PackageDescription
let package = Package(
    name: "hello-world",
    platforms: [.macOS(.v15)],
    dependencies: [.package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1")],
    targets: [.executableTarget(name: "hello-world", dependencies: [.product(name: "Hummingbird", package: "hummingbird")])]
)
