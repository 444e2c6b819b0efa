#!/usr/bin/env python3
"""Writes the benchmark request bodies into the folder given as the first argument."""
import base64
import json
import random
import struct
import sys

rng = random.Random(0)


def matrix(rows, cols):
    return [[round(rng.uniform(-1, 1), 6) for _ in range(cols)] for _ in range(rows)]


def b64(rows, cols):
    data = [rng.uniform(-1, 1) for _ in range(rows * cols)]
    return {"shape": [rows, cols], "dtype": "float64",
            "base64": base64.b64encode(struct.pack(f"<{len(data)}d", *data)).decode()}


def mlp(tensor):
    graph = {
        "inputs": ["x", "W1", "b1", "W2"],
        "nodes": [
            {"id": "h", "op": "matmul", "args": ["x", "W1"]},
            {"id": "z", "op": "add", "args": ["h", "b1"]},
            {"id": "a", "op": "tanh", "args": ["z"]},
            {"id": "o", "op": "matmul", "args": ["a", "W2"]},
            {"id": "p", "op": "log_softmax", "args": ["o"]},
            {"id": "loss", "op": "mean", "args": ["p"]},
        ],
    }
    values = {"x": tensor(64, 256), "W1": tensor(256, 256), "b1": tensor(1, 256), "W2": tensor(256, 10)}
    return {"graph": graph, "values": values, "outputs": ["loss"], "wrt": ["W1", "b1", "W2"]}


def chain(length):
    nodes, previous = [], "x"
    for i in range(length):
        op = ["tanh", "sin", "sigmoid"][i % 3]
        nodes.append({"id": f"n{i}", "op": op, "args": [previous]})
        previous = f"n{i}"
    nodes.append({"id": "loss", "op": "sum", "args": [previous]})
    return {"graph": {"inputs": ["x"], "nodes": nodes}, "values": {"x": [rng.uniform(-1, 1) for _ in range(100)]},
            "outputs": ["loss"]}


bodies = {
    "founding": {"graph": {"inputs": ["x"], "nodes": [{"id": "y", "op": "mul", "args": ["x", "x"]}]},
                 "values": {"x": [1, 2, 3]}, "outputs": ["y"], "seeds": {"y": "ones"}},
    "mlp-nested": mlp(matrix),
    "mlp-base64": dict(mlp(b64), options={"encoding": "base64"}),
    "chain-1000": chain(1000),
}
for name, body in bodies.items():
    with open(f"{sys.argv[1]}/{name}.json", "w") as f:
        json.dump(body, f)
