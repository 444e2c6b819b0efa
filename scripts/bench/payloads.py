#!/usr/bin/env python3
"""Writes the benchmark request bodies (issues 7 and 11) into the folder given as the first argument.

Every body is a POST /v1/backward call; `python3 payloads.py DIR NAME...` writes only the named ones.
Values are seeded random float64s printed with repr() (shortest round trip, as clients do).
"""
import base64
import json
import random
import struct
import sys

rng = random.Random(0)


def values(count):
    return [rng.uniform(-1, 1) for _ in range(count)]


def nested(rows, cols):
    return [values(cols) for _ in range(rows)]


def flat(*shape):
    count = 1
    for n in shape:
        count *= n
    return {"shape": list(shape), "data": values(count)}


def b64(*shape):
    data = flat(*shape)["data"]
    return {"shape": list(shape), "dtype": "float64",
            "base64": base64.b64encode(struct.pack(f"<{len(data)}d", *data)).decode()}


def node(id, op, *args, **attrs):
    entry = {"id": id, "op": op, "args": list(args)}
    if attrs:
        entry["attrs"] = attrs
    return entry


def tiny():
    """y = x ⊙ x on 3 elements."""
    return {"graph": {"inputs": ["x"], "nodes": [node("y", "mul", "x", "x")]},
            "values": {"x": [1.5, -2.0, 3.25]}, "outputs": ["y"], "seeds": "ones"}


def small_mlp():
    """x 5×3 → ·W1 (3×8) + b1 → tanh → ·W2 (8×2) + b2, mean squared error against t; nested arrays."""
    graph = {"inputs": ["x", "W1", "b1", "W2", "b2", "t"], "nodes": [
        node("h", "matmul", "x", "W1"), node("z", "add", "h", "b1"), node("a", "tanh", "z"),
        node("o", "matmul", "a", "W2"), node("p", "add", "o", "b2"), node("d", "sub", "p", "t"),
        node("s", "square", "d"), node("loss", "mean", "s")]}
    return {"graph": graph, "outputs": ["loss"], "seeds": "ones", "wrt": ["W1", "b1", "W2", "b2"],
            "values": {"x": nested(5, 3), "W1": nested(3, 8), "b1": values(8), "W2": nested(8, 2),
                       "b2": values(2), "t": nested(5, 2)}}


def json_matmul():
    """256×256 · 256×256, tensors as {"shape","data"} decimal text both ways."""
    graph = {"inputs": ["A", "B"], "nodes": [node("C", "matmul", "A", "B")]}
    return {"graph": graph, "values": {"A": flat(256, 256), "B": flat(256, 256)}, "outputs": ["C"],
            "seeds": "ones", "options": {"encoding": "flat"}}


def big(tensor, encoding):
    """y = x ⊙ x on a million elements."""
    return {"graph": {"inputs": ["x"], "nodes": [node("y", "mul", "x", "x")]},
            "values": {"x": tensor(1_000_000)}, "outputs": ["y"], "seeds": "ones",
            "options": {"encoding": encoding}}


def chain(count, length):
    """`count` chained sin/tanh/cos/sigmoid on a vector of `length`."""
    nodes, previous = [], "x"
    for i in range(count):
        nodes.append(node(f"n{i}", ["sin", "tanh", "cos", "sigmoid"][i % 4], previous))
        previous = f"n{i}"
    return {"graph": {"inputs": ["x"], "nodes": nodes}, "values": {"x": values(length)},
            "outputs": [previous], "seeds": "ones"}


def deep_chain():
    """2,000 chained sin/tanh/cos/sigmoid on a 256-vector."""
    return chain(2000, 256)


def chain_100k():
    """100,000 chained sin/tanh/cos/sigmoid on a 16-vector (issue 11; the server needs --max-nodes 100000)."""
    return chain(100_000, 16)


def wide_mlp():
    """Batch 64, 256 → 512 tanh → 512 relu → 10, log_softmax cross-entropy; base64 in and out."""
    labels = [[1.0 if c == rng.randrange(10) else 0.0 for c in range(10)] for _ in range(64)]
    graph = {"inputs": ["x", "W1", "b1", "W2", "b2", "W3", "b3", "y"], "nodes": [
        node("h1", "matmul", "x", "W1"), node("z1", "add", "h1", "b1"), node("a1", "tanh", "z1"),
        node("h2", "matmul", "a1", "W2"), node("z2", "add", "h2", "b2"), node("a2", "relu", "z2"),
        node("h3", "matmul", "a2", "W3"), node("o", "add", "h3", "b3"), node("lp", "log_softmax", "o"),
        node("picked", "mul", "lp", "y"), node("total", "sum", "picked"), node("loss", "mul", "total", -1 / 64)]}
    label_bytes = base64.b64encode(struct.pack("<640d", *[v for row in labels for v in row])).decode()
    return {"graph": graph, "outputs": ["loss"], "seeds": "ones", "wrt": ["W1", "b1", "W2", "b2", "W3", "b3"],
            "options": {"encoding": "base64"},
            "values": {"x": b64(64, 256), "W1": b64(256, 512), "b1": b64(512), "W2": b64(512, 512),
                       "b2": b64(512), "W3": b64(512, 10), "b3": b64(10),
                       "y": {"shape": [64, 10], "dtype": "float64", "base64": label_bytes}}}


bodies = {
    "tiny": tiny,
    "small_mlp": small_mlp,
    "json_matmul": json_matmul,
    "big_base64": lambda: big(b64, "base64"),
    "big_decimal": lambda: big(flat, "flat"),
    "deep_chain": deep_chain,
    "wide_mlp": wide_mlp,
    "chain_100k": chain_100k,
}
if __name__ == "__main__":
    for name in sys.argv[2:] or bodies:
        with open(f"{sys.argv[1]}/{name}.json", "w") as f:
            json.dump(bodies[name](), f, separators=(",", ":"))
