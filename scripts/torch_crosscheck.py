#!/usr/bin/env python3
"""Cross-check autodiffd against PyTorch (a local aid; CI does not run it and has no torch).

Usage:
  scripts/torch_crosscheck.py request.json      evaluate a /v1/backward request body with torch and print
                                                the response autodiffd should give (outputs, gradients)
  scripts/torch_crosscheck.py --random N [SEED] print N random small graphs as requests, each followed by
                                                torch's answer (feed the requests to the service and diff)
  scripts/torch_crosscheck.py --conventions     print the kink and tie values the Swift tests hard-code
                                                (Tests/AutodiffCoreTests/ConventionTests.swift)
  scripts/torch_crosscheck.py --swift-fixtures  regenerate Tests/AutodiffCoreTests/Support/TorchFixtures.swift:
                                                forward values and gradients of layout ops, reductions,
                                                matmul and softmax, as computed by torch

Everything runs in float64 on the CPU. The graph format is the wire contract's (docs in CONTRACT.md).
"""
import json
import math
import random
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


# MARK: Tensors on the wire

def decode(value):
    """A wire tensor (number, nested arrays, flat form, non-finite strings) as a float64 tensor."""
    def number(x):
        return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(x, x)

    def nested(x):
        return [nested(i) for i in x] if isinstance(x, list) else number(x)

    if isinstance(value, dict):
        return torch.tensor([number(x) for x in value["data"]], dtype=torch.float64).reshape(value["shape"])
    return torch.tensor(nested(value), dtype=torch.float64)


def encode(t):
    def fix(x):
        if isinstance(x, list):
            return [fix(i) for i in x]
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return x

    return fix(t.detach().tolist())


# MARK: The op table in torch

def norm(axis, rank):
    return axis + rank if axis < 0 else axis


def reduce(fn):
    def apply(x, attrs):
        axes = attrs.get("axes")
        dims = list(range(x.dim())) if axes is None else [norm(a, x.dim()) for a in axes]
        keep = bool(attrs.get("keepdims", False))
        return fn(x, dims, keep) if dims else x.clone()
    return apply


def whole_or(whole, by_axes):
    """max/min without axes is torch.max(x) (a NaN result is shared by the NaN elements); with axes,
    torch.amax (a NaN result makes the group's gradient NaN)."""
    def apply(x, attrs):
        if not attrs.get("axes"):
            result = whole(x)
            return result.reshape([1] * x.dim()) if attrs.get("keepdims") else result
        return by_axes(x, attrs)
    return apply


def onnx_slice(x, attrs, grad_shape=None):
    starts, ends = attrs["starts"], attrs["ends"]
    axes = attrs.get("axes") or list(range(len(starts)))
    steps = attrs.get("steps") or [1] * len(starts)
    index = [slice(None)] * len(grad_shape or x.shape)
    for s, e, a, st in zip(starts, ends, axes, steps):
        index[norm(a, len(index))] = slice(s, e, st)  # Python slicing clamps like ONNX for steps > 0
    return tuple(index)


def unsqueeze(x, attrs):
    rank = x.dim() + len(attrs["axes"])
    for axis in sorted(norm(a, rank) for a in attrs["axes"]):
        x = x.unsqueeze(axis)
    return x


def squeeze(x, attrs):
    axes = attrs.get("axes")
    if axes is None:
        return x.squeeze()
    dims = [norm(a, x.dim()) for a in axes]
    assert all(x.shape[d] == 1 for d in dims), "squeeze of an axis that is not 1"
    return x.squeeze(dims)


def slice_backward(g, attrs):
    out = torch.zeros(attrs["shape"])
    out[onnx_slice(out, attrs)] = g
    return out


def clamp(x, attrs):
    return torch.clamp(x, attrs.get("min"), attrs.get("max"))


OPS = {
    "add": lambda a, b, _: a + b, "sub": lambda a, b, _: a - b, "mul": lambda a, b, _: a * b,
    "div": lambda a, b, _: a / b, "pow": lambda a, b, _: torch.pow(a, b),
    "maximum": lambda a, b, _: torch.maximum(a, b), "minimum": lambda a, b, _: torch.minimum(a, b),
    "gt": lambda a, b, _: (a > b).double(), "ge": lambda a, b, _: (a >= b).double(),
    "lt": lambda a, b, _: (a < b).double(), "le": lambda a, b, _: (a <= b).double(),
    "eq": lambda a, b, _: (a == b).double(), "ne": lambda a, b, _: (a != b).double(),
    "neg": lambda x, _: -x, "exp": lambda x, _: x.exp(), "log": lambda x, _: x.log(), "sqrt": lambda x, _: x.sqrt(),
    "sin": lambda x, _: x.sin(), "cos": lambda x, _: x.cos(), "tan": lambda x, _: x.tan(), "tanh": lambda x, _: x.tanh(),
    "sigmoid": lambda x, _: x.sigmoid(), "reciprocal": lambda x, _: x.reciprocal(), "square": lambda x, _: x * x,
    "log1p": lambda x, _: x.log1p(), "expm1": lambda x, _: x.expm1(), "erf": lambda x, _: x.erf(),
    "abs": lambda x, _: x.abs(), "relu": lambda x, _: torch.relu(x),
    "leaky_relu": lambda x, a: F.leaky_relu(x, a.get("negative_slope", 0.01)),
    "elu": lambda x, a: F.elu(x, a.get("alpha", 1.0)),
    "gelu": lambda x, a: F.gelu(x, approximate=a.get("approximate", "none")),
    "softplus": lambda x, a: F.softplus(x, a.get("beta", 1), a.get("threshold", 20)),
    "clamp": clamp, "sign": lambda x, _: x.sign(), "floor": lambda x, _: x.floor(), "ceil": lambda x, _: x.ceil(),
    "round": lambda x, _: x.round(),
    "where": lambda c, a, b, _: torch.where(c != 0, a, b),
    "sum": reduce(lambda x, d, k: x.sum(d, keepdim=k)), "mean": reduce(lambda x, d, k: x.mean(d, keepdim=k)),
    "prod": reduce(lambda x, d, k: _prod(x, d, k)), "max": whole_or(torch.max, reduce(lambda x, d, k: x.amax(d, keepdim=k))),
    "min": whole_or(torch.min, reduce(lambda x, d, k: x.amin(d, keepdim=k))), "logsumexp": reduce(lambda x, d, k: x.logsumexp(d, keepdim=k)),
    "matmul": lambda a, b, _: torch.matmul(a, b),
    "transpose": lambda x, a: x.permute(a.get("perm") or list(reversed(range(x.dim())))),
    "reshape": lambda x, a: x.reshape(a["shape"]),
    "broadcast_to": lambda x, a: x.broadcast_to(a["shape"]),
    "squeeze": squeeze, "unsqueeze": unsqueeze,
    "concat": None,  # variadic, below
    "slice": lambda x, a: x[onnx_slice(x, a)],
    "slice_backward": slice_backward,
    "softmax": lambda x, a: torch.softmax(x, a.get("axis", -1)),
    "log_softmax": lambda x, a: torch.log_softmax(x, a.get("axis", -1)),
}


def _prod(x, dims, keep):
    for d in sorted(dims, reverse=True):
        x = x.prod(d, keepdim=True)
    return x if keep else x.reshape([s for i, s in enumerate(x.shape) if i not in dims])


def run_graph(graph, values):
    """Evaluates every node with autograd recording; returns name → tensor."""
    env = {name: decode(values[name]).requires_grad_(True) for name in graph["inputs"]}
    env.update({name: decode(v) for name, v in graph.get("constants", {}).items()})
    pending = list(graph["nodes"])
    while pending:
        progressed = False
        for node in list(pending):
            names = [a for a in node["args"] if isinstance(a, str)]
            if any(n not in env for n in names):
                continue
            args = [env[a] if isinstance(a, str) else torch.tensor(float(a)) for a in node["args"]]
            attrs = node.get("attrs", {})
            if node["op"] == "concat":
                env[node["id"]] = torch.cat(args, attrs.get("axis", 0))
            else:
                env[node["id"]] = OPS[node["op"]](*args, attrs)
            pending.remove(node)
            progressed = True
        if not progressed:
            raise SystemExit("cycle or unknown name among: " + ", ".join(n["id"] for n in pending))
    return env


def backward(request):
    graph, values = request["graph"], request["values"]
    env = run_graph(graph, values)
    outputs = request["outputs"]
    wrt = request.get("wrt") or graph["inputs"]
    seeds = request.get("seeds", {})
    tensors, grads = [], []
    for name in outputs:
        y = env[name]
        seed = seeds.get(name)
        if seed == "ones":
            seed = torch.ones_like(y)
        elif seed is None:
            assert y.numel() == 1, f"output {name} needs a seed"
            seed = torch.ones_like(y)
        else:
            seed = decode(seed)
        if y.requires_grad:
            tensors.append(y)
            grads.append(seed)
    inputs = [env[name] for name in wrt]
    result = torch.autograd.grad(tensors, inputs, grads, allow_unused=True) if tensors else [None] * len(inputs)
    gradients, unconnected = {}, []
    for name, x, g in zip(wrt, inputs, result):
        if g is None:
            unconnected.append(name)
            g = torch.zeros_like(x)
        gradients[name] = encode(g)
    return {"outputs": {n: encode(env[n]) for n in outputs}, "gradients": gradients, "unconnected": unconnected}


# MARK: Random graphs

UNARY = ["neg", "exp", "sin", "cos", "tanh", "sigmoid", "square", "erf", "abs", "relu", "gelu", "softplus"]
BINARY = ["add", "sub", "mul", "maximum", "minimum"]
REDUCE = ["sum", "mean", "max", "min", "logsumexp"]


def random_request(rng):
    shapes = {"a": [2, 3], "b": [3], "c": [2, 1]}
    values = {k: [[round(rng.uniform(-2, 2), 3) for _ in range(s[-1])] for _ in range(s[0])] if len(s) == 2
              else [round(rng.uniform(-2, 2), 3) for _ in range(s[0])] for k, s in shapes.items()}
    names, nodes = list(shapes), []
    for i in range(rng.randint(2, 6)):
        kind = rng.random()
        if kind < 0.45:
            nodes.append({"id": f"n{i}", "op": rng.choice(UNARY), "args": [rng.choice(names)]})
        else:
            nodes.append({"id": f"n{i}", "op": rng.choice(BINARY), "args": [rng.choice(names), rng.choice(names)]})
        names.append(f"n{i}")
    axes = rng.choice([None, [0], [-1]])
    last = {"id": "loss", "op": rng.choice(REDUCE), "args": [names[-1]]}
    if axes is not None:
        last["attrs"] = {"axes": axes, "keepdims": rng.random() < 0.5}
    nodes.append(last)
    graph = {"inputs": list(shapes), "nodes": nodes}
    return {"graph": graph, "values": values, "outputs": ["loss"], "seeds": {"loss": "ones"}}


# MARK: Conventions

def conventions():
    def grad(fn, xs, seed=None):
        x = torch.tensor(xs, requires_grad=True)
        y = fn(x)
        y.backward(torch.ones_like(y) if seed is None else torch.tensor(seed))
        return {"value": encode(y), "grad": encode(x.grad)}

    nan = float("nan")
    table = {
        "relu [0,-1,2,nan]": grad(torch.relu, [0.0, -1.0, 2.0, nan]),
        "abs [0,-0,-2,3]": grad(torch.abs, [0.0, -0.0, -2.0, 3.0]),
        "sqrt [0,4]": grad(torch.sqrt, [0.0, 4.0]),
        "leaky_relu(0.2) [0,-1,1]": grad(lambda x: F.leaky_relu(x, 0.2), [0.0, -1.0, 1.0]),
        "elu(0.5) [0,-1,1]": grad(lambda x: F.elu(x, 0.5), [0.0, -1.0, 1.0]),
        "round": grad(torch.round, [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994]),
        "max ties": grad(lambda x: x.amax(), [3.0, 1.0, 3.0, 3.0]),
        "max axes [1] ties": grad(lambda x: x.amax(1), [[3.0, 1.0, 3.0], [2.0, 2.0, 2.0]]),
        "min axes [0] keepdims": grad(lambda x: x.amin(0, keepdim=True), [[1.0, 4.0, 0.0], [1.0, 2.0, 0.0]]),
        "prod one zero": grad(lambda x: x.prod(), [2.0, 0.0, 3.0]),
        "prod two zeros": grad(lambda x: x.prod(), [2.0, 0.0, 3.0, 0.0]),
        "prod axes [-1]": grad(lambda x: x.prod(-1), [[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]]),
        "clamp [-1,1]": grad(lambda x: x.clamp(-1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0]),
        "clamp min -1": grad(lambda x: x.clamp(min=-1.0), [-2.0, -1.0, 0.0, 1.0, 2.0]),
        "clamp max 1": grad(lambda x: x.clamp(max=1.0), [-2.0, -1.0, 0.0, 1.0, 2.0]),
        "softplus": grad(F.softplus, [25.0, 19.0, 0.0]),
        "softplus beta 0.5 threshold 10": grad(lambda x: F.softplus(x, 0.5, 10), [30.0, 19.0]),
        "gelu none": grad(F.gelu, [1.0, -0.5, 0.0]),
        "gelu tanh": grad(lambda x: F.gelu(x, approximate="tanh"), [1.0, -0.5, 0.0]),
        "softmax ±1000": grad(lambda x: x.softmax(-1), [1000.0, -1000.0, 0.0]),
        "softmax tie, seed [1,0]": grad(lambda x: x.softmax(-1), [1000.0, 1000.0], seed=[1.0, 0.0]),
        "log_softmax ±1000": grad(lambda x: x.log_softmax(-1), [1000.0, -1000.0, 0.0]),
        "logsumexp [1000,1000]": grad(lambda x: x.logsumexp(0), [1000.0, 1000.0]),
    }
    b = torch.tensor([0.0, 0.0, 0.0, 0.0, 2.0, -2.0, 0.0], requires_grad=True)
    e = torch.tensor([0.0, 2.0, 0.5, -1.0, 0.0, 2.0, 1.0], requires_grad=True)
    y = torch.pow(b, e)
    y.backward(torch.ones_like(y))
    table["pow"] = {"value": encode(y), "d/dbase": encode(b.grad), "d/dexponent": encode(e.grad)}
    a, c = torch.tensor([1.0, 2.0, 3.0], requires_grad=True), torch.tensor([1.0, 5.0, 0.0], requires_grad=True)
    torch.maximum(a, c).backward(torch.ones(3))
    table["maximum ties"] = {"a": encode(a.grad), "b": encode(c.grad)}
    for name, value in table.items():
        print(f"{name}: {json.dumps(value)}")


# MARK: Swift fixtures

FIXTURES = [
    # (op, input shapes, attrs); inputs are named x0, x1, …
    ("sum", [[2, 3, 4]], {"axes": [0, 2]}), ("sum", [[2, 3, 4]], {"axes": [-2], "keepdims": True}),
    ("mean", [[2, 3, 4]], {"axes": [2, 0], "keepdims": True}), ("mean", [[2, 3, 4]], {}),
    ("prod", [[2, 3, 4]], {"axes": [1]}), ("prod", [[2, 3]], {"axes": [0, 1], "keepdims": True}),
    ("max", [[2, 3, 4]], {"axes": [0, 2]}), ("min", [[2, 3, 4]], {"axes": [-1], "keepdims": True}),
    ("logsumexp", [[2, 3, 4]], {"axes": [1, 2]}), ("logsumexp", [[2, 3]], {"axes": [0]}),
    ("transpose", [[2, 3, 4]], {"perm": [1, 0, 2]}), ("transpose", [[2, 3, 4]], {}),
    ("transpose", [[2, 3, 4]], {"perm": [2, 0, 1]}),
    ("reshape", [[2, 3, 4]], {"shape": [4, -1]}), ("broadcast_to", [[2, 1]], {"shape": [3, 2, 4]}),
    ("squeeze", [[1, 3, 1]], {"axes": [-1]}), ("unsqueeze", [[2, 3]], {"axes": [1, -1]}),
    ("concat", [[2, 1], [2, 3], [2, 2]], {"axis": 1}), ("concat", [[1, 2, 2], [2, 2, 2]], {"axis": 0}),
    ("slice", [[3, 5]], {"starts": [0, 1], "ends": [3, 5], "axes": [0, 1], "steps": [2, 2]}),
    ("slice", [[2, 3, 4]], {"starts": [1, -3], "ends": [2, 100], "axes": [0, -1]}),
    ("slice", [[7]], {"starts": [1], "ends": [-1], "steps": [3]}),
    ("matmul", [[2, 3, 4], [4, 2]], {}), ("matmul", [[2, 1, 3, 4], [5, 4, 2]], {}),
    ("matmul", [[4], [2, 4, 3]], {}), ("matmul", [[2, 3, 4], [4]], {}),
    ("softmax", [[2, 3, 4]], {"axis": 1}), ("log_softmax", [[2, 3, 4]], {"axis": 0}),
    ("where", [[2, 3], [3], []], {}),
    ("maximum", [[2, 3, 4], [3, 1]], {}), ("pow", [[2, 3], [3]], {}), ("div", [[2, 1], [1, 3]], {}),
]


def swift_number(x):
    if math.isnan(x):
        return ".nan"
    if math.isinf(x):
        return ".infinity" if x > 0 else "-.infinity"
    return repr(x)


def swift_tensor(t, indent, prefix=0):
    data = [swift_number(x) for x in t.detach().reshape(-1).tolist()]
    single = f"T({list(t.shape)}, [{', '.join(data)}])"
    if len(single) + indent + prefix <= 118:
        return single
    lines, line = [], []
    for item in data:
        if len(", ".join(line + [item])) > 110 - indent - 4:
            lines.append(", ".join(line))
            line = []
        line.append(item)
    lines.append(", ".join(line))
    body = (",\n" + " " * (indent + 4)).join(lines)
    return f"T({list(t.shape)}, [\n{' ' * (indent + 4)}{body},\n{' ' * indent}])"


def swift_attr(value):
    if isinstance(value, bool):
        return f".bool({str(value).lower()})"
    if isinstance(value, list):
        return f".ints({value})"
    return f".number({value})"


def swift_fixtures():
    rng = random.Random(20261129)
    print("// Generated by scripts/torch_crosscheck.py --swift-fixtures from PyTorch (float64, CPU).")
    print("// Do not edit by hand; regenerate with the script. Inputs are rounded to two decimals.")
    print("@testable import AutodiffCore\n")
    print("enum TorchFixtures {")
    print("    static let cases: [TorchCase] = [")
    for op, shapes, attrs in FIXTURES:
        values = {}
        for i, shape in enumerate(shapes):
            lo = 0.3 if op == "pow" and i == 0 else -2
            count = math.prod(shape)
            data = [round(rng.uniform(lo, 2), 2) for _ in range(count)]
            if op == "where" and i == 0:
                data = [rng.choice([0.0, 1.0, -2.0]) for _ in range(count)]
            if op == "div" and i == 1:
                data = [rng.choice([-1, 1]) * round(rng.uniform(0.5, 2), 2) for _ in range(count)]
            values[f"x{i}"] = torch.tensor(data, dtype=torch.float64).reshape(shape)
        names = list(values)
        graph = {"inputs": names, "nodes": [{"id": "y", "op": op, "args": names, "attrs": attrs}]}
        env = run_graph(graph, {k: {"shape": list(v.shape), "data": v.reshape(-1).tolist()} for k, v in values.items()})
        y = env["y"]
        seed = torch.tensor([round(rng.uniform(-1, 1), 2) for _ in range(y.numel())], dtype=torch.float64).reshape(y.shape)
        diff = [n for n in names if not (op == "where" and n == "x0")]
        grads = torch.autograd.grad([y], [env[n] for n in diff], [seed], allow_unused=True)
        attr_text = ", ".join(f'"{k}": {swift_attr(v)}' for k, v in attrs.items()) or ":"
        header = f'        TorchCase(op: "{op}", attrs: [{attr_text}],'
        if len(header) > 118:
            header = f'        TorchCase(\n            op: "{op}",\n            attrs: [{attr_text}],'
        print(header)
        print("            inputs: [")
        for n in names:
            print(f"                {swift_tensor(values[n], 16)},")
        print(f"            ],\n            seed: {swift_tensor(seed, 12, 6)},")
        print(f"            output: {swift_tensor(y, 12, 8)},")
        print("            gradients: [")
        for n, g in zip(diff, grads):
            print(f'                "{n}": {swift_tensor(g if g is not None else torch.zeros_like(env[n]), 16, 6)},')
        print("            ]),")
    print("    ]")
    print("}")


def main(argv):
    if len(argv) >= 2 and argv[1] == "--conventions":
        conventions()
    elif len(argv) >= 2 and argv[1] == "--swift-fixtures":
        swift_fixtures()
    elif len(argv) >= 3 and argv[1] == "--random":
        rng = random.Random(int(argv[3]) if len(argv) > 3 else 0)
        for _ in range(int(argv[2])):
            request = random_request(rng)
            print(json.dumps({"request": request, "expected": backward(request)}))
    elif len(argv) == 2:
        with open(argv[1]) as f:
            print(json.dumps(backward(json.load(f)), indent=1))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
