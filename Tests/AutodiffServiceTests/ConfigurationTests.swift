import Testing

@testable import AutodiffService

/// Environment variables feed `ServiceConfiguration`; bad values are refused with the variable's name.
@Suite struct ConfigurationTests {
    @Test func environmentOverridesDefaults() throws {
        let configuration = try ServiceConfiguration(environment: [
            "PORT": "9000", "AUTODIFFD_WORKERS": "3", "AUTODIFFD_QUEUE_DEPTH": "0", "AUTODIFFD_MAX_NODES": "5",
            "AUTODIFFD_MAX_ELEMENTS": "6", "AUTODIFFD_MAX_BYTES": "7", "AUTODIFFD_MAX_WORK": "8",
            "AUTODIFFD_REQUEST_TIMEOUT": "0.25", "AUTODIFFD_GRAPH_CACHE_SIZE": "9", "AUTODIFFD_API_KEYS": "a, b",
            "AUTODIFFD_LOG_LEVEL": "debug", "AUTODIFFD_MAX_BODY_BYTES": "1024", "AUTODIFFD_HOST": "127.0.0.1",
            "AUTODIFFD_GRAPH_CACHE_BYTES": "4096", "AUTODIFFD_BODY_TIMEOUT": "2.5", "AUTODIFFD_IDLE_TIMEOUT": "7",
            "AUTODIFFD_DRAIN_DELAY": "0", "AUTODIFFD_SHUTDOWN_GRACE": "12",
        ])
        #expect(configuration.port == 9000)
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.workers == 3)
        #expect(configuration.queueDepth == 0)
        #expect(configuration.limits.maxNodes == 5)
        #expect(configuration.limits.maxElements == 6)
        #expect(configuration.limits.maxBytes == 7)
        #expect(configuration.limits.maxWork == 8)
        #expect(configuration.requestTimeout == .milliseconds(250))
        #expect(configuration.graphCacheSize == 9)
        #expect(configuration.graphCacheBytes == 4096)
        #expect(configuration.apiKeys == ["a", "b"])
        #expect(configuration.logLevel == .debug)
        #expect(configuration.maxBodyBytes == 1024)
        #expect(configuration.bodyTimeout == .milliseconds(2500))
        #expect(configuration.idleTimeout == .seconds(7))
        #expect(configuration.drainDelay == .zero)
        #expect(configuration.shutdownGrace == .seconds(12))
        #expect(try ServiceConfiguration(environment: ["AUTODIFFD_DRAIN_DELAY": "3"]).drainDelay == .seconds(3))
    }

    @Test func autodiffdPortWinsOverPort() throws {
        let configuration = try ServiceConfiguration(environment: ["PORT": "9000", "AUTODIFFD_PORT": "9001"])
        #expect(configuration.port == 9001)
        #expect(try ServiceConfiguration(environment: [:]) == ServiceConfiguration())
    }

    @Test(arguments: [
        ("PORT", "http"), ("PORT", "70000"), ("AUTODIFFD_WORKERS", "0"), ("AUTODIFFD_REQUEST_TIMEOUT", "-1"),
        ("AUTODIFFD_LOG_LEVEL", "loud"), ("AUTODIFFD_MAX_NODES", "1e3"), ("AUTODIFFD_BODY_TIMEOUT", "0"),
        ("AUTODIFFD_DRAIN_DELAY", "-1"), ("AUTODIFFD_SHUTDOWN_GRACE", "0"), ("AUTODIFFD_IDLE_TIMEOUT", "soon"),
    ])
    func badValuesNameTheVariable(name: String, value: String) {
        #expect(throws: ConfigurationError(setting: name, value: value)) {
            try ServiceConfiguration(environment: [name: value])
        }
    }
}
