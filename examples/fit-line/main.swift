// Fits y = slope·x + intercept to four points by gradient descent, each step one call to a
// registered graph: the server computes d(loss)/d(slope, intercept), this program takes the step.
//
//     swift run autodiffd-example-fit http://127.0.0.1:8080
import AutodiffClient
import Foundation

let address = CommandLine.arguments.dropFirst().first ?? "http://127.0.0.1:8080"
guard let url = URL(string: address) else {
    print("usage: autodiffd-example-fit [server URL]")
    exit(2)
}
let client = AutodiffClient(baseURL: url)

// loss = mean((slope·x + intercept − y)²)
var g = GraphBuilder()
let slope = g.input("slope")
let intercept = g.input("intercept")
let x = g.input("x")
let y = g.input("y")
let prediction = g.add(g.mul(slope, x), intercept)
let residual = g.sub(prediction, y)
let loss = g.mean(g.square(residual), name: "loss")

let xs = Tensor([0, 1, 2, 3])
let ys = Tensor([1, 3, 5, 7])  // y = 2x + 1
var parameters = (slope: 0.0, intercept: 0.0)
let learningRate = 0.1

do {
    let registration = try await client.register(g.graph)
    print("registered \(registration.nodes) nodes")
    var lastLoss = Double.nan
    for _ in 0..<300 {
        let step = try await client.backward(
            BackwardRequest(
                graph: .id(registration.graphID),
                values: [
                    "slope": Tensor(parameters.slope), "intercept": Tensor(parameters.intercept), "x": xs, "y": ys,
                ],
                outputs: [loss.name], wrt: ["slope", "intercept"]))
        lastLoss = step.outputs[loss.name]?.scalar ?? .nan
        parameters.slope -= learningRate * (step.gradients["slope"]??.scalar ?? 0)
        parameters.intercept -= learningRate * (step.gradients["intercept"]??.scalar ?? 0)
    }
    print(String(format: "slope %.4f intercept %.4f loss %.6f", parameters.slope, parameters.intercept, lastLoss))
} catch {
    print("error: \(error)")
    exit(1)
}
