#!/usr/bin/env python3
"""Fits y = slope*x + intercept by gradient descent; the server computes each gradient.

Standard library only.  Usage: python3 examples/fit_line.py [http://127.0.0.1:8080]
"""
import json
import sys
import urllib.error
import urllib.request

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"

# loss = mean((slope*x + intercept - y)^2)
GRAPH = {
    "inputs": ["slope", "intercept", "x", "y"],
    "nodes": [
        {"id": "sx", "op": "mul", "args": ["slope", "x"]},
        {"id": "prediction", "op": "add", "args": ["sx", "intercept"]},
        {"id": "residual", "op": "sub", "args": ["prediction", "y"]},
        {"id": "squared", "op": "square", "args": ["residual"]},
        {"id": "loss", "op": "mean", "args": ["squared"]},
    ],
}


def post(path, body):
    request = urllib.request.Request(
        BASE + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:  # the contract's {"error": {"code", "message"}}
        detail = json.load(error)["error"]
        sys.exit("error %d %s: %s" % (error.code, detail["code"], detail["message"]))


registration = post("/v1/graphs", {"graph": GRAPH})
graph_id = registration["graph_id"]
print("registered %d nodes" % registration["nodes"])
xs, ys = [0, 1, 2, 3], [1, 3, 5, 7]  # y = 2x + 1
slope, intercept, rate = 0.0, 0.0, 0.1
for _ in range(300):
    step = post("/v1/backward", {
        "graph_id": graph_id,
        "values": {"slope": slope, "intercept": intercept, "x": xs, "y": ys},
        "outputs": ["loss"], "wrt": ["slope", "intercept"],
    })
    slope -= rate * step["gradients"]["slope"]
    intercept -= rate * step["gradients"]["intercept"]
print("slope %.4f intercept %.4f loss %.6f" % (slope, intercept, step["outputs"]["loss"]))
