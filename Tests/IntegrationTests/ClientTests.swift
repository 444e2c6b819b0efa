import AutodiffClient
import Foundation
import Testing

/// `AutodiffClient` against the real binary: every endpoint, typed errors, re-registration, retry.
@Suite(.serialized) struct ClientTests {
    /// y = x ⊙ x and s = Σy.
    static func square() -> (GraphDescription, y: String, s: String) {
        var g = GraphBuilder()
        let x = g.input("x")
        let y = g.mul(x, x, name: "y")
        let s = g.sum(y, name: "s")
        return (g.graph, y.name, s.name)
    }

    static func client(_ server: ServerProcess, retry: AutodiffClient.RetryPolicy = .init()) throws -> AutodiffClient {
        let url = try #require(URL(string: server.baseURL))
        return AutodiffClient(baseURL: url, configuration: .init(timeout: 120, retry: retry))
    }

    @Test func everyEndpointThroughTheClient() async throws {
        let server = try ServerProcess()
        let client = try Self.client(server)
        let (graph, y, s) = Self.square()
        let x = Tensor([1, 2, 3])

        // The seed "ones" for y gives the gradient of Σy; the scalar s needs no seed and agrees.
        let ones = try await client.backward(
            BackwardRequest(graph: .inline(graph), values: ["x": x], outputs: [y], seeds: [y: .ones]))
        #expect(ones.outputs[y] == Tensor([1, 4, 9]))
        #expect(ones.gradients["x"] == Tensor([2, 4, 6]))
        let sum = try await client.backward(BackwardRequest(graph: .inline(graph), values: ["x": x], outputs: [s]))
        #expect(sum.outputs[s] == Tensor(14))
        #expect(sum.gradients["x"] == Tensor([2, 4, 6]))

        let registration = try await client.register(graph)
        #expect(registration.graphID.hasPrefix("sha256-"))
        #expect(registration.inputs == ["x"])
        #expect(registration.nodes == 2)
        let fetched = try await client.graph(id: registration.graphID)
        #expect(fetched.inputs == ["x"])
        #expect(fetched.nodes.map(\.op) == ["mul", "sum"])

        let byID: GraphSource = .id(registration.graphID)
        let seeded = try await client.backward(
            BackwardRequest(
                graph: byID, values: ["x": x], outputs: [y], seeds: [y: .tensor(Tensor([1, 0, -1]))],
                returnGraph: true))
        #expect(seeded.gradients["x"] == Tensor([2, 0, -6]))
        #expect(seeded.backwardGraph?.graph.inputs.contains("seed:y") == true)

        let forward = try await client.forward(ForwardRequest(graph: byID, values: ["x": x], outputs: [y, s]))
        #expect(forward.outputs == [y: Tensor([1, 4, 9]), s: Tensor(14)])

        let jacobian = try await client.jacobian(JacobianRequest(graph: byID, values: ["x": x], outputs: [y]))
        #expect(jacobian.jacobian[y]?["x"] == Tensor(shape: [3, 3], data: [2, 0, 0, 0, 4, 0, 0, 0, 6]))

        let jvp = try await client.jvp(
            JVPRequest(graph: byID, values: ["x": x], outputs: [y], tangents: ["x": Tensor([1, 1, 0])]))
        #expect(jvp.tangents[y] == Tensor([2, 4, 0]))

        // ∂²(Σx²)/∂x² = 2I, so the Hessian-vector product is 2v.
        let hvp = try await client.hvp(
            HVPRequest(graph: byID, values: ["x": x], output: s, vectors: ["x": Tensor([1, -1, 0.5])]))
        #expect(hvp.output == Tensor(14))
        #expect(hvp.gradients["x"] == Tensor([2, 4, 6]))
        #expect(hvp.hvp["x"] == Tensor([2, -2, 1]))

        // The readable encoding gives the same numbers.
        let flat = AutodiffClient(baseURL: client.baseURL, configuration: .init(tensorEncoding: .flat))
        #expect(try await flat.jacobian(JacobianRequest(graph: byID, values: ["x": x], outputs: [y])) == jacobian)

        // An input no output depends on: no gradient under UnconnectedPolicy.null, and listed.
        var unused = GraphBuilder()
        let used = unused.input("x")
        _ = unused.input("u")
        let doubled = unused.mul(used, 2, name: "d")
        let partial = try await client.backward(
            BackwardRequest(
                graph: .inline(unused.graph), values: ["x": Tensor(1.5), "u": Tensor([1, 2])], outputs: [doubled.name],
                unconnected: .null))
        #expect(partial.gradients["x"] == Tensor(2))
        #expect(partial.gradients.keys.contains("u") && partial.gradients["u"] == .some(nil))
        #expect(partial.unconnected == ["u"])

        // Non-finite values survive base64 both ways: log(0) = -inf, log(-1) = NaN.
        var g = GraphBuilder()
        let logged = g.log(g.input("x"), name: "l")
        let logs = try await client.forward(
            ForwardRequest(graph: .inline(g.graph), values: ["x": Tensor([0, -1, .infinity])], outputs: [logged.name]))
        let values = try #require(logs.outputs["l"]?.data)
        #expect(values[0] == -.infinity && values[1].isNaN && values[2] == .infinity)

        #expect(server.terminate() == 0)
    }

    @Test func builderCoversEveryOpTheServerLists() async throws {
        let server = try ServerProcess()
        let client = try Self.client(server)
        var g = GraphBuilder()
        let a = g.input("a")
        let b = g.input("b")
        let c = g.constant("c", Tensor(shape: [2, 2], data: [1, 2, 3, 4]))
        _ = [
            g.add(a, b), g.sub(a, b), g.mul(a, b), g.div(a, b), g.pow(a, b), g.maximum(a, b), g.minimum(a, b),
            g.gt(a, b), g.ge(a, b), g.lt(a, b), g.le(a, b), g.eq(a, b), g.ne(a, b), g.matmul(a, b),
            g.neg(a), g.exp(a), g.log(a), g.sqrt(a), g.sin(a), g.cos(a), g.tan(a), g.tanh(a), g.sigmoid(a),
            g.reciprocal(a), g.square(a), g.log1p(a), g.expm1(a), g.erf(a), g.abs(a), g.relu(a), g.sign(a),
            g.floor(a), g.ceil(a), g.round(a),
        ]
        _ = g.where(a, b, c)
        _ = g.leakyRelu(a, negativeSlope: 0.2)
        _ = g.elu(a, alpha: 0.5)
        _ = g.gelu(a, approximate: "tanh")
        _ = g.softplus(a, beta: 2, threshold: 10)
        _ = g.clamp(a, min: -1, max: 1)
        _ = g.sum(a, axes: [0], keepdims: true)
        _ = g.mean(a, axes: [-1])
        _ = g.prod(a)
        _ = g.max(a, axes: [1])
        _ = g.min(a, keepdims: true)
        _ = g.logsumexp(a, axes: [0])
        _ = g.transpose(a, perm: [1, 0])
        _ = g.reshape(a, shape: [-1])
        _ = g.broadcastTo(a, shape: [3, 2, 2])
        _ = g.squeeze(g.unsqueeze(a, axes: [0]), axes: [0])
        _ = g.unsqueeze(a, axes: [0])
        _ = g.concat([a, b, c], axis: 1)
        _ = g.slice(a, starts: [0], ends: [1], axes: [1], steps: [1])
        _ = g.sliceBackward(a, shape: [2, 4], starts: [0], ends: [2], axes: [1])
        _ = g.softmax(a, axis: 0)
        _ = g.logSoftmax(a, axis: -1)
        _ = g.mul(a, 2)

        let catalog = try await client.ops()
        #expect(Set(g.graph.nodes.map(\.op)) == Set(catalog.ops.map(\.name)))
        // The server accepts every op with these attributes, and they come back as sent.
        let registration = try await client.register(g.graph)
        let back = try await client.graph(id: registration.graphID)
        #expect(back.nodes.first { $0.op == "softplus" }?.attrs == ["beta": .number(2), "threshold": .number(10)])
        let two = Tensor(shape: [2, 2], data: [0.5, -1, 2, 0.25])
        let result = try await client.forward(
            ForwardRequest(graph: .id(registration.graphID), values: ["a": two, "b": two], outputs: ["n1"]))
        #expect(result.outputs["n1"] == Tensor(shape: [2, 2], data: [1, -2, 4, 0.5]))
        #expect(server.terminate() == 0)
    }

    @Test func errorsCarryTheContractCodeStatusAndNode() async throws {
        let server = try ServerProcess()
        let client = try Self.client(server)
        let (graph, y, _) = Self.square()
        do {
            _ = try await client.backward(
                BackwardRequest(graph: .inline(graph), values: ["x": Tensor([1, 2])], outputs: [y]))
            Issue.record("a vector output without a seed must fail")
        } catch {
            #expect(error.code == "seed_required")
            #expect(error.status == 422)
            #expect(error.node == y)
            #expect(error.message.contains("ones"))
        }
        var g = GraphBuilder()
        let bad = g.matmul(g.input("p"), g.input("q"), name: "h")
        do {
            _ = try await client.forward(
                ForwardRequest(
                    graph: .inline(g.graph), values: ["p": Tensor(rows: [[1, 2, 3]]), "q": Tensor(rows: [[1, 2]])],
                    outputs: [bad.name]))
            Issue.record("mismatched matmul must fail")
        } catch {
            #expect(error.code == "shape_mismatch")
            #expect(error.node == "h")
        }
        do {
            _ = try await client.forward(ForwardRequest(graph: .id("sha256-nothing"), values: [:], outputs: ["y"]))
            Issue.record("an unknown id must fail")
        } catch {
            #expect(error.code == "graph_not_found")
            #expect(error.status == 404)
        }
        #expect(server.terminate() == 0)
        do {
            _ = try await client.ops()
            Issue.record("a stopped server cannot answer")
        } catch {
            #expect(error.code == "transport")
        }
    }

    @Test func callsByIDRegisterAgainAfterTheServerRestarts() async throws {
        let first = try ServerProcess()
        let port = first.port
        let client = try Self.client(first)
        let (graph, y, _) = Self.square()
        let id = try await client.register(graph).graphID
        let request = BackwardRequest(graph: .id(id), values: ["x": Tensor([3])], outputs: [y])
        #expect(try await client.backward(request).gradients["x"] == Tensor([6]))
        #expect(first.terminate() == 0)

        // A new process on the same port knows no ids; the client registers the graph again and goes on.
        let second = try ServerProcess(arguments: ["--port", "\(port)"])
        #expect(second.port == port)
        #expect(try curl([second.baseURL + "/v1/graphs/\(id)"]).status == 404)
        #expect(try await client.backward(request).gradients["x"] == Tensor([6]))
        #expect(try curl([second.baseURL + "/v1/graphs/\(id)"]).status == 200)
        #expect(second.terminate() == 0)
    }

    @Test func overloadedIsRetriedAfterRetryAfterWithinBounds() async throws {
        // The slow call must finish (200) after the retries: on a loaded machine its niced worker can
        // take most of the default 30 s, so it gets more.
        let server = try ServerProcess(
            arguments: ["--workers", "1", "--queue-depth", "0", "--retry-after", "1", "--request-timeout", "300"]
                + SlowCall.arguments)
        let slow = try startCurlPost(server.baseURL + "/v1/forward", SlowCall.body)
        waitUntilBusy(server, while: slow)
        #expect(workerLoad(server)?.busy == 1, "the slow call is not holding the worker")

        let (graph, _, s) = Self.square()
        let request = ForwardRequest(graph: .inline(graph), values: ["x": Tensor([1, 2])], outputs: [s])
        // Without retries the caller sees the 503 at once.
        let impatient = try Self.client(server, retry: .init(maxAttempts: 1))
        do {
            _ = try await impatient.forward(request)
            Issue.record("a full server must answer 503")
        } catch {
            #expect(error.code == "overloaded")
            #expect(error.status == 503)
        }
        // With retries the call waits Retry-After (1 s) between attempts and gets through once the worker is free.
        let patient = try Self.client(server, retry: .init(maxAttempts: 200, maxTotalWait: 180))
        let started = ContinuousClock.now
        #expect(try await patient.forward(request).outputs[s] == Tensor(5))
        #expect(ContinuousClock.now - started >= .seconds(1), "the client did not wait for Retry-After")
        #expect(finishCurl(slow).status == 200)
        #expect(server.terminate() == 0)
    }

    @Test func theTimeoutEndsACallThatWaitsTooLong() async throws {
        let server = try ServerProcess(
            arguments: ["--workers", "1", "--queue-depth", "1", "--request-timeout", "300"] + SlowCall.arguments)
        let slow = try startCurlPost(server.baseURL + "/v1/forward", SlowCall.body)
        waitUntilBusy(server, while: slow)
        #expect(workerLoad(server)?.busy == 1, "the slow call is not holding the worker")
        // Queued behind the slow call, this one cannot finish within half a second.
        let url = try #require(URL(string: server.baseURL))
        let hasty = AutodiffClient(baseURL: url, configuration: .init(timeout: 0.5))
        let (graph, _, s) = Self.square()
        let started = ContinuousClock.now
        do {
            _ = try await hasty.forward(ForwardRequest(graph: .inline(graph), values: ["x": Tensor([1])], outputs: [s]))
            Issue.record("the call should have timed out")
        } catch {
            #expect(error.code == "transport")
            #expect(ContinuousClock.now - started < .seconds(30))
        }
        #expect(slow.process.isRunning, "the slow call ended before the timeout was exercised")
        #expect(finishCurl(slow).status == 200)
        #expect(server.terminate() == 0)
    }
}
