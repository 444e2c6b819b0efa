#!/usr/bin/env python3
"""PyTorch's figures for the work `swift run -c release autodiffd-bench` measures (docs/PERFORMANCE.md,
"Engine"): the comparison column. One thread, float64, CPU, in-process; medians after a warm-up.

    pip install torch   # CPU wheel; not needed by the service, its tests or CI
    python3 scripts/engine_bench_torch.py
"""
import statistics
import time

import torch

torch.set_num_threads(1)
torch.manual_seed(42)
f64 = torch.float64


class Timing:
    """Median wall-clock and thread-CPU seconds (the CPU time leaves out waiting for a core)."""

    def __init__(self, walls, cpus):
        self.wall, self.cpu = statistics.median(walls), statistics.median(cpus)

    def text(self, unit, name, digits=3):
        return f"{self.wall * unit:.{digits}f} {name} (cpu {self.cpu * unit:.{digits}f})"


def median(runs, body, warmup=2):
    for _ in range(warmup):
        body()
    walls, cpus = [], []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.thread_time()
        body()
        cpus.append(time.thread_time() - cpu)
        walls.append(time.perf_counter() - start)
    return Timing(walls, cpus)


def rand(*shape):
    return torch.rand(*shape, dtype=f64) * 2 - 1


print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, {torch.backends.cpu.get_cpu_capability()}")

print("\n## matmul, median of 50")
cases = [
    ("64x256 · 256x512", (64, 256), (256, 512), False, False),
    ("  dA = G(64x512) · Wᵀ", (64, 512), (256, 512), False, True),
    ("  dW = Aᵀ · G(64x512)", (64, 256), (64, 512), True, False),
    ("256x256 · 256x256", (256, 256), (256, 256), False, False),
    ("64x512 · 512x10", (64, 512), (512, 10), False, False),
    ("  dA = G(64x10) · Wᵀ", (64, 10), (512, 10), False, True),
    ("  dW = Aᵀ · G(64x10)", (64, 512), (64, 10), True, False),
    ("64x512 · 512x512", (64, 512), (512, 512), False, False),
]
for name, lhs, rhs, ta, tb in cases:
    a, b = rand(*lhs), rand(*rhs)
    x = a.t() if ta else a
    y = b.t() if tb else b
    m, k, n = x.shape[0], x.shape[1], y.shape[1]
    t = median(50, lambda: torch.matmul(x, y))
    flops = 2 * m * k * n
    print(f"{name}: {t.text(1e6, 'µs', 1)}, {flops / t.wall / 1e9:.1f} GFLOP/s (cpu {flops / t.cpu / 1e9:.1f})")

OPS = [torch.sin, torch.tanh, torch.cos, torch.sigmoid]


def chain_backward(nodes, length):
    x = rand(length).requires_grad_()

    def run():
        y = x
        for i in range(nodes):
            y = OPS[i % 4](y)
        torch.autograd.grad(y, x, torch.ones_like(y))

    return run


print("\n## elementwise chains on a 16-vector, forward + backward (autograd)")
for nodes in (1_000, 10_000, 100_000):
    t = median(5 if nodes >= 100_000 else 21, chain_backward(nodes, 16), warmup=1)
    print(f"{nodes} nodes: {t.text(1e3, 'ms', 2)}, {t.wall * 1e9 / nodes:.0f} ns per node (cpu {t.cpu * 1e9 / nodes:.0f})")

print("\n## elementwise ops on 1M elements, median of 11")
count = 1 << 20
x, y = rand(count), rand(count)
unary = {
    "neg": torch.neg, "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "sin": torch.sin, "cos": torch.cos,
    "tan": torch.tan, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "reciprocal": torch.reciprocal,
    "square": torch.square, "log1p": torch.log1p, "expm1": torch.expm1, "erf": torch.erf, "abs": torch.abs,
    "relu": torch.relu, "leaky_relu": torch.nn.functional.leaky_relu, "elu": torch.nn.functional.elu,
    "gelu": torch.nn.functional.gelu, "softplus": torch.nn.functional.softplus, "sign": torch.sign,
    "floor": torch.floor, "ceil": torch.ceil, "round": torch.round, "clamp": lambda t: torch.clamp(t, -0.5, 0.5),
}
for name, f in unary.items():
    t = median(11, lambda: f(x))
    print(f"{name}: {count / t.wall / 1e6:.0f} M elements/s (cpu {count / t.cpu / 1e6:.0f})")
binary = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "gt": torch.gt, "eq": torch.eq,
}
for name, f in binary.items():
    t = median(11, lambda: f(x, y))
    print(f"{name}: {count / t.wall / 1e6:.0f} M elements/s (cpu {count / t.cpu / 1e6:.0f})")
square = x.reshape(1024, 1024)
row = rand(1024)
for name, f in [
    ("add (broadcast 1024x1024 + 1024)", lambda: square + row),
    ("sum (all)", lambda: x.sum()),
    ("sum axis 0 of 1024x1024", lambda: square.sum(0)),
    ("log_softmax rows of 1024x1024", lambda: torch.log_softmax(square, 1)),
    ("transpose 1024x1024", lambda: square.t().contiguous()),
]:
    t = median(11, f)
    print(f"{name}: {count / t.wall / 1e6:.0f} M elements/s (cpu {count / t.cpu / 1e6:.0f})")

print("\n## wide_mlp: batch 64, 256→512 tanh→512 relu→10, log_softmax cross-entropy, fwd+bwd")
inp = rand(64, 256)
params = [rand(256, 512), rand(512), rand(512, 512), rand(512), rand(512, 10), rand(10)]
for p in params:
    p.requires_grad_()
target = torch.nn.functional.one_hot(torch.arange(64) % 10, 10).to(f64)


def mlp():
    w1, b1, w2, b2, w3, b3 = params
    h1 = torch.tanh(inp @ w1 + b1)
    h2 = torch.relu(h1 @ w2 + b2)
    lp = torch.log_softmax(h2 @ w3 + b3, 1)
    loss = -(lp * target).sum(1).mean()
    torch.autograd.grad(loss, params)


print(f"median {median(31, mlp).text(1e3, 'ms')}")

print("\n## deep_chain: 2,000 chained sin/tanh/cos/sigmoid on a 256-vector, seed ones, fwd+bwd")
print(f"median {median(31, chain_backward(2_000, 256)).text(1e3, 'ms')}")
