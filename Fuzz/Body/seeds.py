#!/usr/bin/env python3
"""Writes the request-body fuzzer's starting corpus into the directory given: valid bodies of every
endpoint (first byte: the endpoint, 0 forward ... 4 hvp, 5 registration; +8 for the limits without
an element bound), in every tensor form, so mutations start from calls that reach the computation."""
import base64
import json
import os
import struct
import sys

MLP = {
    "inputs": ["x", "W", "b"],
    "constants": {"half": 0.5},
    "nodes": [
        {"id": "h", "op": "matmul", "args": ["x", "W"]},
        {"id": "z", "op": "add", "args": ["h", "b"]},
        {"id": "y", "op": "tanh", "args": ["z"]},
        {"id": "s", "op": "mul", "args": ["y", "half"]},
        {"id": "loss", "op": "sum", "args": ["s"], "attrs": {"axes": [1], "keepdims": False}},
        {"id": "total", "op": "sum", "args": ["loss"]},
    ],
}
MLP_VALUES = {"x": [[1, 2, 3]], "W": {"shape": [3, 2], "data": [0.1, -0.2, 0.3, "NaN", 0.5, -0.6]},
              "b": {"shape": [2], "dtype": "float64", "base64": base64.b64encode(struct.pack("<2d", 0.5, -1)).decode()}}
LAYOUT = {
    "inputs": ["a", "c"],
    "nodes": [
        {"id": "t", "op": "transpose", "args": ["a"], "attrs": {"perm": [1, 0]}},
        {"id": "r", "op": "reshape", "args": ["t"], "attrs": {"shape": [-1]}},
        {"id": "k", "op": "concat", "args": ["r", "c"], "attrs": {"axis": 0}},
        {"id": "sl", "op": "slice", "args": ["k"], "attrs": {"starts": [1], "ends": [5], "axes": [0], "steps": [2]}},
        {"id": "bt", "op": "broadcast_to", "args": ["sl"], "attrs": {"shape": [3, 2]}},
        {"id": "sm", "op": "softmax", "args": ["bt"], "attrs": {"axis": -1}},
        {"id": "m", "op": "where", "args": ["sm", "bt", 0]},
        {"id": "out", "op": "logsumexp", "args": ["m"], "attrs": {"axes": [0, 1]}},
    ],
}
LAYOUT_VALUES = {"a": [[1, 2], [3, 4]], "c": [5, 6]}

bodies = [
    (0, {"graph": MLP, "values": MLP_VALUES, "outputs": ["y", "total"]}),
    (0, {"graph": LAYOUT, "values": LAYOUT_VALUES, "outputs": ["out", "k"], "options": {"encoding": "flat"}}),
    (1, {"graph": MLP, "values": MLP_VALUES, "outputs": ["y", "total"], "seeds": {"y": [[1, 0]]}, "wrt": ["W", "b"],
         "options": {"encoding": "nested", "unconnected": "zero"}}),
    (1, {"graph": MLP, "values": MLP_VALUES, "outputs": ["y"], "seeds": {"y": [[[1, 0]], [[0, 1]]]},
         "options": {"batched": True, "encoding": "base64"}}),
    (1, {"graph": MLP, "values": MLP_VALUES, "outputs": ["total"], "options": {"return_graph": True}}),
    (1, {"graph": LAYOUT, "values": LAYOUT_VALUES, "outputs": ["out"], "seeds": "ones",
         "options": {"unconnected": "null"}}),
    (2, {"graph": MLP, "values": MLP_VALUES, "outputs": ["y"], "wrt": ["x", "b"]}),
    (3, {"graph": MLP, "values": MLP_VALUES, "outputs": ["y", "total"], "tangents": {"x": [[1, 0, -1]]}}),
    (4, {"graph": MLP, "values": MLP_VALUES, "output": "total", "vectors": {"W": [[1, 0], [0, 1], [1, 1]]},
         "wrt": ["W"]}),
    (5, {"graph": MLP}),
    (5, {"graph": LAYOUT}),
    (1, {"graph_id": "sha256-" + "0" * 64, "values": MLP_VALUES, "outputs": ["total"]}),
    (0, {"graph": {"inputs": ["x"], "nodes": [{"id": "y", "op": "mul", "args": ["x", "x"]}]},
         "values": {"x": {"shape": [0, 3], "data": []}}, "outputs": ["y"]}),
]
# A tensor of 24 values is 256 base64 characters: long enough that the parser keeps the text as
# the body's bytes (JSONParser.minimumBase64Text); the second copy sends every "/" as "\/".
LONG = {"shape": [4, 6], "dtype": "float64",
        "base64": base64.b64encode(struct.pack("<24d", *[(i - 11.5) / 3 for i in range(24)])).decode()}
SQUARE = {"inputs": ["x"], "nodes": [{"id": "y", "op": "mul", "args": ["x", "x"]}]}
LONG_CALL = {"graph": SQUARE, "values": {"x": LONG}, "outputs": ["y"], "seeds": "ones",
             "options": {"encoding": "base64"}}
bodies.append((1, LONG_CALL))
escaped = [(1, json.dumps(LONG_CALL).replace("/", "\\/"))]

# Calls on the graph FuzzBody.swift registers for every input, whose id it writes for "@R".
REGISTERED_VALUES = {"x": [[1, 2, 3]], "W": {"shape": [3, 2], "data": [0.1, -0.2, 0.3, 0.4, 0.5, -0.6]}}
bodies += [
    (0, {"graph_id": "@R", "values": REGISTERED_VALUES, "outputs": ["y", "total"]}),
    (1, {"graph_id": "@R", "values": REGISTERED_VALUES, "outputs": ["total"], "options": {"return_graph": True}}),
    (1, {"graph_id": "@R", "values": REGISTERED_VALUES, "outputs": ["y"], "seeds": {"y": [[[1, 0]], [[0, 1]]]},
         "options": {"batched": True}}),
    (2, {"graph_id": "@R", "values": REGISTERED_VALUES, "outputs": ["y"], "wrt": ["W"]}),
    (3, {"graph_id": "@R", "values": REGISTERED_VALUES, "outputs": ["total"],
         "tangents": {"W": [[1, 0], [0, 1], [1, 1]]}}),
    (4, {"graph_id": "@R", "values": REGISTERED_VALUES, "output": "total", "vectors": {"x": [[1, 0, -1]]}}),
]

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for index, (endpoint, body) in enumerate(bodies):
    for limits in (0, 8):
        with open(os.path.join(out, f"seed-{index:02d}-{limits}"), "wb") as f:
            f.write(bytes([endpoint + limits]) + json.dumps(body).encode())
for index, (endpoint, text) in enumerate(escaped, start=len(bodies)):
    for limits in (0, 8):
        with open(os.path.join(out, f"seed-{index:02d}-{limits}"), "wb") as f:
            f.write(bytes([endpoint + limits]) + text.encode())
