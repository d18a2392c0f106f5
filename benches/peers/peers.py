#!/usr/bin/env python3
"""Peer benchmarks: the DESIGN.md workloads B1 to B7 timed in JAX, PyTorch and NumPy.

The inputs are drawn exactly as in benches/workloads/ (SplitMix64 + Box–Muller, same seeds, same
draw order), so every tool differentiates the same numbers as the Rust benches. Each case is
checked once against a hand-written or closed-form result before it is timed, and the script
stops if a check fails.

    python3 benches/peers/peers.py --out target/peers.json [--quick] [--only b1,b2,b4,b5]
        [--tools jax-jit,pytorch-eager,numpy-hand,numpy]

Tools whose package is missing are skipped with a message. See README.md beside this file.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time

ALL_WORKLOADS = ("b1", "b2", "b3", "b4", "b5", "b6", "b7")
ALL_TOOLS = ("jax-jit", "pytorch-eager", "numpy-hand", "numpy")
TORCH_THREADS = 2


def check_openblas_env(allow):
    """OpenBLAS reads these when it loads (at `import numpy`): either would pin numpy's GEMM to a
    slower kernel or blocking than the machine's best, and the B5 numbers would not be NumPy's."""
    bad = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    if not bad:
        return
    listed = ", ".join(f"{k}={v}" for k, v in bad.items())
    if allow:
        print(f"warning: {listed} is set: NumPy's BLAS may not use its best kernels; "
              "the numbers are recorded anyway (--allow-openblas-env)", file=sys.stderr)
        return
    sys.exit(f"error: {listed} is set, so NumPy's BLAS would not use its best kernels; "
             "run under `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`, "
             "or pass --allow-openblas-env to record the numbers anyway")


# --------------------------------------------------------------------------------------------
# Inputs: benches/workloads/mod.rs, rewritten with NumPy.
# --------------------------------------------------------------------------------------------

GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


class SplitMix64:
    """SplitMix64 as in benches/workloads/mod.rs. The k-th output (from 1) is mix(seed + k·γ),
    so a block of outputs is computed at once."""

    def __init__(self, seed):
        self.seed = seed
        self.count = 0  # outputs drawn so far

    def next_u64s(self, n):
        import numpy as np

        with np.errstate(over="ignore"):
            k = np.arange(self.count + 1, self.count + n + 1, dtype=np.uint64)
            z = np.uint64(self.seed) + k * np.uint64(GOLDEN)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(MIX1)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(MIX2)
            z = z ^ (z >> np.uint64(31))
        self.count += n
        return z

    def uniforms(self, n):
        """Uniform in [0, 1) with 53 random bits."""
        import numpy as np

        return (self.next_u64s(n) >> np.uint64(11)).astype(np.float64) * (1.0 / float(1 << 53))

    def normals(self, n, variance):
        """`n` draws from N(0, variance): Box–Muller, cosine branch, two uniforms per draw."""
        import numpy as np

        u = self.uniforms(2 * n)
        u1 = 1.0 - u[0::2]
        u2 = u[1::2]
        return math.sqrt(variance) * (np.sqrt(-2.0 * np.log(u1)) * np.cos((2.0 * math.pi) * u2))


def b1_inputs(batch):
    """benches/workloads/mlp.rs `Inputs::new`: X, W1, b1, W2, b2, then one class per row."""
    import numpy as np

    rng = SplitMix64(0x00B1)
    x = rng.normals(batch * 784, 1.0).reshape(batch, 784)
    w1 = rng.normals(784 * 256, 2.0 / 784.0).reshape(784, 256)
    b1 = rng.normals(256, 1e-4).reshape(1, 256)
    w2 = rng.normals(256 * 10, 1.0 / 256.0).reshape(256, 10)
    b2 = rng.normals(10, 1e-4).reshape(1, 10)
    y = np.zeros((batch, 10))
    y[np.arange(batch), (rng.next_u64s(batch) % np.uint64(10)).astype(np.intp)] = 1.0
    return x, w1, b1, w2, b2, y


def b2_inputs(n):
    """benches/workloads/logistic.rs `Inputs::new`: X, then y (even: 1, odd: −1), then w."""
    import numpy as np

    rng = SplitMix64(0x00B2)
    x = rng.normals(1000 * n, 1.0 / n).reshape(1000, n)
    y = np.where(rng.next_u64s(1000) % np.uint64(2) == np.uint64(0), 1.0, -1.0)
    w = rng.normals(n, 0.01)
    return x, w, y


def b4_inputs(n):
    """benches/workloads/tanh_layer.rs `Inputs::new`: W, b, x."""
    rng = SplitMix64(0x00B4)
    w = rng.normals(n * n, 1.0 / n).reshape(n, n)
    b = rng.normals(n, 0.01)
    x = rng.normals(n, 1.0)
    return w, b, x


def b3_inputs(n):
    """benches/workloads/rosenbrock.rs `Inputs::new`: x, entry k = 2·u_k − 1."""
    rng = SplitMix64(0x00B3)
    return 2.0 * rng.uniforms(n) - 1.0


def b7_inputs(n):
    """benches/workloads/logdet.rs `Inputs::new`: X = MᵀM/n + I, then A."""
    import numpy as np

    rng = SplitMix64(0x00B7)
    m = rng.normals(n * n, 1.0).reshape(n, n)
    a = rng.normals(n * n, 1.0).reshape(n, n)
    x = m.T @ m * (1.0 / n) + np.eye(n)
    return x, a


def b6_inputs(steps):
    """benches/workloads/rnn.rs `Inputs::new`: H0, W, U, b, then the steps' inputs X stacked."""
    rng = SplitMix64(0x00B6)
    batch, hidden, inputs = 32, 128, 64
    h0 = rng.normals(batch * hidden, 1.0 / hidden).reshape(batch, hidden)
    w = rng.normals(hidden * hidden, 1.0 / hidden).reshape(hidden, hidden)
    u = rng.normals(inputs * hidden, 1.0 / inputs).reshape(inputs, hidden)
    b = rng.normals(hidden, 0.01).reshape(1, hidden)
    xs = rng.normals(steps * batch * inputs, 1.0).reshape(steps * batch, inputs)
    return h0, w, u, b, xs


def b5_inputs(n):
    """benches/gemm.rs `inputs`: A, then B."""
    rng = SplitMix64(0x00B5)
    a = rng.normals(n * n, 1.0).reshape(n, n)
    b = rng.normals(n * n, 1.0).reshape(n, n)
    return a, b


# Values printed by the Rust generator (benches/workloads, f64): the first entry and the sum of
# one array per workload. A mismatch means the inputs above no longer match the Rust benches.
RUST_REFERENCE = {
    ("b1", 64): (0.930554249177442, -3.26678704339665103e2, 1.43189154879240839e1),
    ("b1", 1024): (0.930554249177442, 8.24507001527266198e2, -2.23573632904394017e1),
    ("b2", 100): (0.0643825636154242, -2.24180131323675695e1, -1.84945867890668275e-1),
    ("b2", 500): (0.028792757761958623, -7.83550992511112909e0, -4.34257885489578443e-1),
    ("b4", 100): (0.1504727341075941, -2.12618350698507597e-1, -5.35140344493061981e0),
    ("b4", 1000): (0.047583656553290124, 1.77007766462247567e1, 1.22675231861428973e1),
    ("b5", 256): (-0.2690499999864096, 1.00023472661534171e2, -3.95199329736584389e2),
    ("b5", 512): (-0.2690499999864096, -2.78452594365246910e2, 8.48594224768702787e0),
    ("b5", 1024): (-0.2690499999864096, -1.10375238721977189e3, -1.37374612920751656e3),
    ("b6", 100): (-0.10347437078876777, 9.142074917229216e0, -6.005162711162084e2),
    ("b3", 10): (-0.9469278913936297, -0.8206535657801235, -0.8206535657801235),
    ("b3", 1000): (-0.9469278913936297, -11.135010033166099, -11.135010033166099),
    ("b3", 100000): (-0.9469278913936297, -383.2759415215072, -383.2759415215072),
    ("b7", 200): (2.039298174269407, 383.7311568797116, -406.1251927476825),
}


def check_inputs(key, first, second):
    """`first`'s first entry and sum, and `second`'s sum, against RUST_REFERENCE."""
    ref_first, ref_sum, ref_sum2 = RUST_REFERENCE[key]
    got = (float(first.flat[0]), float(first.sum()), float(second.sum()))
    for g, r in zip(got, (ref_first, ref_sum, ref_sum2)):
        if abs(g - r) > 1e-12 * max(1.0, abs(r)):
            sys.exit(f"error: inputs of {key} differ from the Rust generator: {got} != "
                     f"{(ref_first, ref_sum, ref_sum2)}")


# --------------------------------------------------------------------------------------------
# Timing and checking
# --------------------------------------------------------------------------------------------


def cpu_busy_seconds():
    """CPU seconds spent busy by the whole machine (all cores) and by this process so far."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    machine = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # guest time is in user
    own = os.times()
    return machine, own.user + own.system


class Timer:
    """Times one call at a time; on this shared machine it also measures how much of the CPUs
    other processes took meanwhile, and retimes a case that was disturbed."""

    BUSY_LIMIT = 0.10  # share of all cores used by other processes that counts as disturbed

    def __init__(self, quick, retries):
        self.min_time_ns = 200_000_000 if quick else 1_000_000_000
        self.min_samples = 5 if quick else 20
        self.max_samples = 100_000
        self.warmup_ns = 50_000_000 if quick else 300_000_000
        self.retries = retries
        self.cores = os.cpu_count() or 1

    def others_share(self, before, after, wall_ns):
        machine = after[0] - before[0]
        own = after[1] - before[1]
        return max(0.0, (machine - own) / (wall_ns * 1e-9 * self.cores))

    def wait_for_quiet(self, max_wait_s=60.0):
        """Sleeps (in 1 s looks) until other processes use under BUSY_LIMIT of the CPUs."""
        deadline = time.monotonic() + max_wait_s
        while time.monotonic() < deadline:
            before, t0 = cpu_busy_seconds(), time.perf_counter_ns()
            time.sleep(1.0)
            if self.others_share(before, cpu_busy_seconds(),
                                 time.perf_counter_ns() - t0) < self.BUSY_LIMIT:
                return

    def run(self, call, budget=1.0):
        """Median of individually timed calls: at least `min_samples` calls and `min_time`
        (scaled by `budget`), after a warm-up of at least 3 calls. If other processes took more
        than BUSY_LIMIT of the CPUs meanwhile, waits for quiet and times again (up to `retries`
        times), keeping the least disturbed attempt. Returns (median_ns, samples, others' share
        of the CPUs during that attempt)."""
        best = None
        for attempt in range(self.retries + 1):
            if attempt:
                self.wait_for_quiet()
            result = self.attempt(call, budget)
            if best is None or result[2] < best[2]:
                best = result
            if best[2] < self.BUSY_LIMIT:
                break
        return best

    def attempt(self, call, budget):
        start = time.perf_counter_ns()
        for _ in range(3):
            call()
        while time.perf_counter_ns() - start < self.warmup_ns * budget:
            call()
        times = []
        total = 0
        min_samples = max(3, int(self.min_samples * min(budget, 1.0)))
        before, begin = cpu_busy_seconds(), time.perf_counter_ns()
        while (len(times) < min_samples or total < self.min_time_ns * budget) \
                and len(times) < self.max_samples:
            t0 = time.perf_counter_ns()
            call()
            dt = time.perf_counter_ns() - t0
            times.append(dt)
            total += dt
        others = self.others_share(before, cpu_busy_seconds(), time.perf_counter_ns() - begin)
        return float(statistics.median(times)), len(times), others


def rel_err(got, want):
    """The largest elementwise |got − want| relative to the largest |want|, in f64."""
    import numpy as np

    got = np.asarray(got, dtype=np.float64).reshape(np.shape(want))
    want = np.asarray(want, dtype=np.float64)
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


TOLERANCE = {"f64": 1e-9, "f32": 2e-4}


def expect_close(what, precision, got, want):
    dtype = str(getattr(got, "dtype", ""))
    if dtype not in ("float32", "float64", "torch.float32", "torch.float64"):
        sys.exit(f"error: {what}: the result has dtype {dtype!r}, not a float array")
    if dtype.endswith("float64") != (precision == "f64"):
        sys.exit(f"error: {what}: the result is {dtype}, but the case is {precision}")
    err = rel_err(got, want)
    if not err <= TOLERANCE[precision]:  # also catches NaN
        sys.exit(f"error: {what}: relative error {err:.3e} > {TOLERANCE[precision]:.0e}: "
                 "the result is wrong, so its timing would mean nothing")
    return err


# --------------------------------------------------------------------------------------------
# The tools
# --------------------------------------------------------------------------------------------


def load_tools(wanted):
    """Imports the packages of the wanted tools; returns {tool: module-ish}, skipping missing."""
    mods = {}
    if "jax-jit" in wanted:
        try:
            import jax

            # Before any array is made, or f64 arrays silently become f32.
            jax.config.update("jax_enable_x64", True)
            import jax.numpy  # noqa: F401

            mods["jax-jit"] = jax
        except ImportError as e:
            print(f"skipping jax-jit: jax is not importable ({e})", file=sys.stderr)
    if "pytorch-eager" in wanted:
        try:
            import torch

            torch.set_num_threads(TORCH_THREADS)
            mods["pytorch-eager"] = torch
        except ImportError as e:
            print(f"skipping pytorch-eager: torch is not importable ({e})", file=sys.stderr)
    for tool in ("numpy-hand", "numpy"):
        if tool in wanted:
            import numpy

            mods[tool] = numpy
    return mods


def np_dtype(precision):
    import numpy as np

    return np.float64 if precision == "f64" else np.float32


# ---- B1: MLP value and gradient ------------------------------------------------------------


def numpy_log_softmax(z):
    import numpy as np

    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def b1_numpy_hand(x, w1, b1, w2, b2, y):
    """mlp_loss_hand of benches/workloads/mlp.rs: dz2 = (softmax(z2) − y)/B (rows of y sum to 1)."""
    import numpy as np

    batch = x.shape[0]
    z1 = x @ w1 + b1
    h = np.maximum(z1, 0)
    z2 = h @ w2 + b2
    lp = numpy_log_softmax(z2)
    loss = -(y * lp).sum() / batch
    dz2 = (np.exp(lp) - y) / batch
    dw2 = h.T @ dz2
    db2 = dz2.sum(axis=0, keepdims=True)
    dh = dz2 @ w2.T
    dz1 = dh * (z1 > 0)
    dw1 = x.T @ dz1
    db1 = dz1.sum(axis=0, keepdims=True)
    return loss, (dw1, db1, dw2, db2)


def b1_cases(mods, timer, results, precisions):
    import numpy as np

    for batch in (64, 1024):
        inputs64 = b1_inputs(batch)
        check_inputs(("b1", batch), inputs64[0], inputs64[1])
        for precision in precisions:
            param = f"B={batch}"
            args = tuple(a.astype(np_dtype(precision)) for a in inputs64)
            # The reference: the hand pass in f64 on the same (possibly rounded) inputs.
            ref_loss, ref_grads = b1_numpy_hand(*(a.astype(np.float64) for a in args))
            tools = {}

            if "numpy-hand" in mods:
                tools["numpy-hand"] = (lambda args=args: b1_numpy_hand(*args),
                                       lambda out: out, "")

            if "jax-jit" in mods:
                jax = mods["jax-jit"]
                jnp = jax.numpy

                def loss_fn(x, w1, b1, w2, b2, y):
                    z1 = x @ w1 + b1
                    h = jax.nn.relu(z1)
                    z2 = h @ w2 + b2
                    lp = jax.nn.log_softmax(z2, axis=1)
                    return jnp.mean(-jnp.sum(y * lp, axis=1))

                f = jax.jit(jax.value_and_grad(loss_fn, argnums=(1, 2, 3, 4)))
                jargs = tuple(jax.device_put(a) for a in args)
                assert all(a.dtype == args[0].dtype for a in jargs)
                tools["jax-jit"] = (
                    lambda f=f, jargs=jargs: jax.block_until_ready(f(*jargs)),
                    lambda out: (out[0], out[1]), "")

            if "pytorch-eager" in mods:
                torch = mods["pytorch-eager"]
                tx, tw1, tb1, tw2, tb2, ty = (torch.from_numpy(a.copy()) for a in args)
                leaves = (tw1, tb1, tw2, tb2)
                for t in leaves:
                    t.requires_grad_(True)

                def step(tx=tx, ty=ty, leaves=leaves):
                    w1, b1, w2, b2 = leaves
                    for t in leaves:
                        t.grad = None
                    z2 = torch.relu(tx @ w1 + b1) @ w2 + b2
                    lp = torch.log_softmax(z2, dim=1)
                    loss = (-(ty * lp).sum(dim=1)).mean()
                    loss.backward()
                    return loss, tuple(t.grad for t in leaves)

                tools["pytorch-eager"] = (
                    step,
                    lambda out: (out[0].detach().numpy(), tuple(g.numpy() for g in out[1])), "")

            for tool, (call, unpack, note) in tools.items():
                loss, grads = unpack(call())
                expect_close(f"b1_mlp/{precision}/{param} {tool} loss", precision,
                             np.asarray(loss), ref_loss)
                for name, g, r in zip(("dW1", "db1", "dW2", "db2"), grads, ref_grads):
                    expect_close(f"b1_mlp/{precision}/{param} {tool} {name}", precision, g, r)
                median, samples, busy = timer.run(call)
                record(results, "b1_mlp", precision, param, tool, median, samples,
                       busy_note(note, busy))


# ---- B2: logistic-regression Hessian -------------------------------------------------------


def b2_hessian_hand(x, w, y):
    """hessian_by_hand of benches/workloads/logistic.rs: Xᵀ·diag(s(1 − s))·X + λI, s = σ(y ⊙ X·w)."""
    import numpy as np

    m = y * (x @ w)
    e = np.exp(-np.abs(m))
    s = np.where(m >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype)
    h = x.T @ (x * (s * (1 - s))[:, None])
    h[np.diag_indices_from(h)] += x.dtype.type(0.1)
    return h


def b2_cases(mods, timer, results, precisions):
    for n in (100, 500):
        x64, w64, y64 = b2_inputs(n)
        check_inputs(("b2", n), x64, w64)
        for precision in precisions:
            param = f"n={n}"
            x, w, y = (a.astype(np_dtype(precision)) for a in (x64, w64, y64))
            ref = b2_hessian_hand(x64, w64, y64)
            tools = {}

            if "numpy-hand" in mods:
                tools["numpy-hand"] = (lambda x=x, w=w, y=y: b2_hessian_hand(x, w, y), "")

            if "jax-jit" in mods:
                jax = mods["jax-jit"]
                jnp = jax.numpy
                jx, jy = jax.device_put(x), jax.device_put(y)
                jw = jax.device_put(w)

                def loss(w, jx=jx, jy=jy):
                    return -jnp.sum(jax.nn.log_sigmoid(jy * (jx @ w))) + 0.05 * jnp.dot(w, w)

                f = jax.jit(jax.hessian(loss))
                tools["jax-jit"] = (lambda f=f, jw=jw: f(jw).block_until_ready(), "")

            if "pytorch-eager" in mods:
                torch = mods["pytorch-eager"]
                tx, tw, ty = (torch.from_numpy(a.copy()) for a in (x, w, y))

                def loss(w, tx=tx, ty=ty):
                    return -torch.nn.functional.logsigmoid(ty * (tx @ w)).sum() + 0.05 * w.dot(w)

                tools["pytorch-eager"] = torch_pick(
                    timer, precision,
                    lambda v: torch.autograd.functional.hessian(loss, tw, vectorize=v),
                    ref, f"b2_hessian/{precision}/{param}")

            run_tools(timer, results, tools, "b2_hessian", precision, param, ref)


def torch_pick(timer, precision, make_call, ref, what):
    """torch.autograd.functional's `vectorize=True` (one batched backward pass through vmap)
    against its default (one backward pass per output row): both are checked and timed; the
    faster is kept, and the note says which, with the other's median."""
    times = {}
    for vectorize in (True, False):
        call = lambda v=vectorize: make_call(v)  # noqa: E731
        try:
            out = call()
        except Exception as e:  # vectorize=True relies on vmap support of every op
            print(f"{what} pytorch-eager vectorize={vectorize} failed: {e}", file=sys.stderr)
            continue
        expect_close(f"{what} pytorch-eager vectorize={vectorize}", precision,
                     out.detach().numpy(), ref)
        # The slower variant is only for the note: a shorter run is enough.
        times[vectorize] = (call, timer.run(call, budget=1.0 if vectorize else 0.3))
    if not times:
        sys.exit(f"error: {what}: pytorch-eager failed with and without vectorize")
    best = min(times, key=lambda v: times[v][1][0])
    call, (median, samples, busy) = times[best]
    note = f"vectorize={best}"
    other = not best
    if other in times:
        note += f" (faster; vectorize={other}: median {times[other][1][0]:.0f} ns)"
    else:
        note += f" (vectorize={other} failed)"
    return (call, note, (median, samples, busy))


def flat(out):
    """A result as one array: a tuple of gradients (B6) flattened and concatenated, in order."""
    import numpy as np

    if isinstance(out, (tuple, list)):
        parts = [np.asarray(o.detach() if hasattr(o, "detach") else o).ravel() for o in out]
        return np.concatenate(parts)
    return out.detach() if hasattr(out, "detach") else out


def run_tools(timer, results, tools, workload, precision, param, ref, variant=None):
    for tool, spec in tools.items():
        if len(spec) == 3:  # already checked and timed (torch_pick)
            _, note, (median, samples, busy) = spec
        else:
            call, note = spec
            out = flat(call())
            expect_close(f"{workload}/{precision}/{param} {variant or ''} {tool}", precision,
                         out, ref)
            median, samples, busy = timer.run(call)
        record(results, workload, precision, param, tool, median, samples,
               busy_note(note, busy), variant)


# ---- B4: tanh-layer Jacobian ---------------------------------------------------------------


def b4_jacobian_hand(w, b, x):
    """jacobian_by_hand of benches/workloads/tanh_layer.rs: diag(1 − y²)·W, y = tanh(W·x + b)."""
    import numpy as np

    y = np.tanh(w @ x + b)
    return w * (1 - y * y)[:, None]


def b4_cases(mods, timer, results, precisions):
    for n in (100, 1000):
        w64, b64, x64 = b4_inputs(n)
        check_inputs(("b4", n), w64, x64)
        for precision in precisions:
            param = f"n={n}"
            w, b, x = (a.astype(np_dtype(precision)) for a in (w64, b64, x64))
            ref = b4_jacobian_hand(w64, b64, x64)
            tools = {}

            if "numpy-hand" in mods:
                tools["numpy-hand"] = (lambda w=w, b=b, x=x: b4_jacobian_hand(w, b, x), "")

            if "jax-jit" in mods:
                jax = mods["jax-jit"]
                jnp = jax.numpy
                jw, jb, jx = (jax.device_put(a) for a in (w, b, x))

                def layer(x, jw=jw, jb=jb):
                    return jnp.tanh(jw @ x + jb)

                f = jax.jit(jax.jacrev(layer))
                tools["jax-jit"] = (lambda f=f, jx=jx: f(jx).block_until_ready(), "")

            if "pytorch-eager" in mods:
                torch = mods["pytorch-eager"]
                tw, tb, tx = (torch.from_numpy(a.copy()) for a in (w, b, x))

                def layer(x, tw=tw, tb=tb):
                    return torch.tanh(tw @ x + tb)

                tools["pytorch-eager"] = torch_pick(
                    timer, precision,
                    lambda v: torch.autograd.functional.jacobian(layer, tx, vectorize=v),
                    ref, f"b4_jacobian/{precision}/{param}")

            run_tools(timer, results, tools, "b4_jacobian", precision, param, ref)


# ---- B6: RNN through a loop ------------------------------------------------------------------


def b6_hand(h0, w, u, b, xs, steps):
    """rnn_loss_hand of benches/workloads/rnn.rs in NumPy: BPTT over the stored states; returns
    the gradients wrt H0, W, U, b."""
    import numpy as np

    batch = h0.shape[0]
    hs = [h0]
    for t in range(steps):
        hs.append(np.tanh(hs[-1] @ w + xs[t * batch:(t + 1) * batch] @ u + b))
    dh = hs[-1].copy()
    dw, du, db = np.zeros_like(w), np.zeros_like(u), np.zeros_like(b)
    for t in range(steps - 1, -1, -1):
        dz = dh * (1 - hs[t + 1] * hs[t + 1])
        db += dz.sum(axis=0, keepdims=True)
        dw += hs[t].T @ dz
        du += xs[t * batch:(t + 1) * batch].T @ dz
        dh = dz @ w.T
    return dh, dw, du, db


def b6_cases(mods, timer, results, precisions):
    import numpy as np

    steps = 100
    inputs64 = b6_inputs(steps)
    check_inputs(("b6", steps), inputs64[0], inputs64[4])
    ref = flat(b6_hand(*inputs64, steps))
    for precision in precisions:
        param = f"T={steps}"
        h0, w, u, b, xs = (a.astype(np_dtype(precision)) for a in inputs64)
        tools = {}
        if "numpy-hand" in mods:
            tools["numpy-hand"] = (lambda a=(h0, w, u, b, xs): b6_hand(*a, steps), "")

        if "jax-jit" in mods:
            jax = mods["jax-jit"]
            jnp = jax.numpy
            params = tuple(jax.device_put(a) for a in (h0, w, u, b))
            jxs = jax.device_put(xs.reshape(steps, -1, xs.shape[1]))

            def loss(params, xs):
                h0, w, u, b = params

                def step(h, xt):
                    return jnp.tanh(h @ w + xt @ u + b), None

                h, _ = jax.lax.scan(step, h0, xs)
                return 0.5 * jnp.sum(h * h)

            f = jax.jit(jax.grad(loss))
            tools["jax-jit"] = (
                lambda f=f, p=params, x=jxs: jax.block_until_ready(f(p, x)),
                "jit(grad) of lax.scan",
            )

        if "pytorch-eager" in mods:
            torch = mods["pytorch-eager"]
            tparams = [torch.from_numpy(a.copy()).requires_grad_() for a in (h0, w, u, b)]
            txs = torch.from_numpy(xs.copy())
            batch = h0.shape[0]

            def grads(tparams=tparams, txs=txs):
                h0, w, u, b = tparams
                h = h0
                for t in range(steps):
                    h = torch.tanh(h @ w + txs[t * batch:(t + 1) * batch] @ u + b)
                loss = 0.5 * (h * h).sum()
                return torch.autograd.grad(loss, tparams)

            tools["pytorch-eager"] = (grads, "autograd.grad of a Python loop")

        run_tools(timer, results, tools, "b6_rnn", precision, param, np.asarray(ref))


# ---- B3: Rosenbrock gradient ------------------------------------------------------------------


def b3_hand(x):
    """gradient_by_hand of benches/workloads/rosenbrock.rs in NumPy."""
    import numpy as np

    head, tail = x[:-1], x[1:]
    d, e = tail - head * head, 1.0 - head
    g = np.zeros_like(x)
    g[:-1] = -400.0 * d * head - 2.0 * e
    g[1:] += 200.0 * d
    return g


def b3_cases(mods, timer, results, precisions):
    import numpy as np

    for n in (10, 1000, 100000):
        x64 = b3_inputs(n)
        check_inputs(("b3", n), x64, x64)
        ref = b3_hand(x64)
        for precision in precisions:
            param = f"n={n}"
            x = x64.astype(np_dtype(precision))
            tools = {}
            if "numpy-hand" in mods:
                tools["numpy-hand"] = (lambda x=x: b3_hand(x), "")
            if "jax-jit" in mods:
                jax = mods["jax-jit"]
                jnp = jax.numpy

                def rosenbrock(x):
                    d = x[1:] - x[:-1] ** 2
                    return jnp.sum(100.0 * d * d + (1.0 - x[:-1]) ** 2)

                f = jax.jit(jax.grad(rosenbrock))
                jx = jax.device_put(x)
                tools["jax-jit"] = (lambda f=f, jx=jx: f(jx).block_until_ready(), "jit(grad)")
            if "pytorch-eager" in mods:
                torch = mods["pytorch-eager"]
                tx = torch.from_numpy(x.copy()).requires_grad_()

                def grad(tx=tx):
                    d = tx[1:] - tx[:-1] ** 2
                    loss = (100.0 * d * d + (1.0 - tx[:-1]) ** 2).sum()
                    return torch.autograd.grad(loss, tx)[0]

                tools["pytorch-eager"] = (grad, "autograd.grad")
            run_tools(timer, results, tools, "b3_rosenbrock", precision, param, np.asarray(ref))


# ---- B7: logdet and inverse ------------------------------------------------------------------


def b7_hand(x, a):
    """The closed form X⁻ᵀ − X⁻ᵀ·Aᵀ·X⁻ᵀ with one inverse (NumPy's LAPACK)."""
    import numpy as np

    y = np.linalg.inv(x)
    return (y - y @ a @ y).T


def b7_cases(mods, timer, results, precisions):
    import numpy as np

    n = 200
    x64, a64 = b7_inputs(n)
    check_inputs(("b7", n), x64, a64)
    ref = b7_hand(x64, a64)
    for precision in precisions:
        param = f"n={n}"
        x, a = (m.astype(np_dtype(precision)) for m in (x64, a64))
        tools = {}
        if "numpy-hand" in mods:
            tools["numpy-hand"] = (lambda x=x, a=a: b7_hand(x, a), "")
        if "jax-jit" in mods:
            jax = mods["jax-jit"]
            jnp = jax.numpy

            def f7(x, a):
                return jnp.linalg.slogdet(x)[1] + jnp.trace(a @ jnp.linalg.inv(x))

            g = jax.jit(jax.grad(f7))
            jx, ja = jax.device_put(x), jax.device_put(a)
            tools["jax-jit"] = (lambda g=g, jx=jx, ja=ja: g(jx, ja).block_until_ready(),
                                "jit(grad)")
        if "pytorch-eager" in mods:
            torch = mods["pytorch-eager"]
            tx = torch.from_numpy(x.copy()).requires_grad_()
            ta = torch.from_numpy(a.copy())

            def grad(tx=tx, ta=ta):
                loss = torch.linalg.slogdet(tx)[1] + torch.trace(ta @ torch.linalg.inv(tx))
                return torch.autograd.grad(loss, tx)[0]

            tools["pytorch-eager"] = (grad, "autograd.grad")
        run_tools(timer, results, tools, "b7_logdet", precision, param, np.asarray(ref))


# ---- B5: GEMM ------------------------------------------------------------------------------


AB, ABT = "A·B", "A·Bᵀ"


def b5_cases(mods, timer, results, precisions):
    for n in (256, 512, 1024):
        a64, b64 = b5_inputs(n)
        check_inputs(("b5", n), a64, b64)
        refs = {AB: a64 @ b64, ABT: a64 @ b64.T}
        for precision in precisions:
            param = f"n={n}"
            a, b = (m.astype(np_dtype(precision)) for m in (a64, b64))
            for variant in (AB, ABT):
                tools = {}
                if "numpy" in mods:
                    # Bᵀ as a view (strides), no copy: NumPy hands BLAS the transpose flag.
                    bt = b.T
                    assert not bt.flags["C_CONTIGUOUS"] and bt.base is not None
                    rhs = b if variant == AB else bt
                    tools["numpy"] = (lambda a=a, rhs=rhs: a @ rhs, "")
                if "jax-jit" in mods:
                    jax = mods["jax-jit"]
                    ja, jb = jax.device_put(a), jax.device_put(b)
                    f = jax.jit((lambda a, b: a @ b) if variant == AB else (lambda a, b: a @ b.T))
                    tools["jax-jit"] = (lambda f=f, ja=ja, jb=jb: f(ja, jb).block_until_ready(),
                                        "")
                if "pytorch-eager" in mods:
                    torch = mods["pytorch-eager"]
                    ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
                    rhs = tb if variant == AB else tb.t()
                    tools["pytorch-eager"] = (lambda ta=ta, rhs=rhs: ta @ rhs, "")
                run_tools(timer, results, tools, "b5_gemm", precision, param, refs[variant],
                          variant)


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def busy_note(note, busy):
    """Says in the note when other processes took a noticeable share of the CPUs while timing
    (after the retries), so a disturbed number is not taken for the tool's own."""
    if busy < Timer.BUSY_LIMIT:
        return note
    extra = f"disturbed: other processes used {100 * busy:.0f}% of the CPUs while timing"
    return f"{note}; {extra}" if note else extra


def record(results, workload, precision, param, tool, median, samples, note, variant=None):
    row = {"workload": workload, "precision": precision, "param": param}
    if variant is not None:
        row["variant"] = variant
    row.update({"tool": tool, "median_ns": median, "samples": samples, "note": note})
    results.append(row)
    label = f"{workload}/{precision}/{param}" + (f" {variant}" if variant else "")
    print(f"{label:<32} {tool:<14} {fmt_ns(median):>12}  ({samples} samples) {note}", flush=True)


def fmt_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.0f} ns"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def numpy_blas_threads():
    """NumPy's own BLAS as threadpoolctl sees it, e.g. "openblas 0.3.27 Haswell, 2 threads"."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    import numpy as np

    numpy_dir = os.path.dirname(np.__file__)
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    # NumPy's wheel bundles its OpenBLAS in numpy.libs/ beside the package.
    own = [i for i in blas if os.path.dirname(numpy_dir) in i.get("filepath", "")
           and "numpy" in i.get("filepath", "")] or blas
    if not own:
        return None
    i = own[0]
    desc = f"{i.get('internal_api')} {i.get('version')}"
    if i.get("architecture"):
        desc += f" {i['architecture']}"
    return f"{desc}, {i.get('num_threads')} threads"


def machine_info(mods):
    import numpy as np

    versions = {"numpy": np.__version__, "jax": None, "jaxlib": None, "torch": None}
    threads = {"torch": None, "numpy_blas": numpy_blas_threads(), "jax": None}
    if "jax-jit" in mods:
        import jax
        import jaxlib

        versions["jax"] = jax.__version__
        versions["jaxlib"] = getattr(jaxlib, "__version__", None) or jaxlib.version.__version__
        # XLA's CPU client sizes its intra-op pool to the cores it sees; XLA_FLAGS could change it.
        threads["jax"] = (f"XLA default ({os.cpu_count()} cores visible"
                          + (f", XLA_FLAGS={os.environ['XLA_FLAGS']}" if "XLA_FLAGS" in os.environ
                             else "") + ")")
    if "pytorch-eager" in mods:
        torch = mods["pytorch-eager"]
        versions["torch"] = torch.__version__
        threads["torch"] = torch.get_num_threads()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "threads": threads,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="target/peers.json", help="the JSON file to write")
    p.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    p.add_argument("--only", default=",".join(ALL_WORKLOADS),
                   help="comma-separated workloads among " + ",".join(ALL_WORKLOADS))
    p.add_argument("--tools", default=",".join(ALL_TOOLS),
                   help="comma-separated tools among " + ",".join(ALL_TOOLS))
    p.add_argument("--precisions", default="f32,f64", help="comma-separated: f32,f64")
    p.add_argument("--retries", type=int, default=3,
                   help="times to retime a case that other processes disturbed (default 3)")
    p.add_argument("--allow-openblas-env", action="store_true",
                   help="run even if OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set")
    args = p.parse_args()

    only = [w.strip() for w in args.only.split(",") if w.strip()]
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    precisions = [q.strip() for q in args.precisions.split(",") if q.strip()]
    for name, given, allowed in (("workload", only, ALL_WORKLOADS), ("tool", tools, ALL_TOOLS),
                                 ("precision", precisions, ("f32", "f64"))):
        for g in given:
            if g not in allowed:
                p.error(f"unknown {name} {g!r}; expected one of {', '.join(allowed)}")

    check_openblas_env(args.allow_openblas_env)
    try:
        import numpy  # noqa: F401
    except ImportError:
        sys.exit("error: numpy is required (pip install -r benches/peers/requirements.txt)")

    mods = load_tools(tools)
    timer = Timer(args.quick, args.retries)
    results = []
    machine = machine_info(mods)
    print(json.dumps(machine, ensure_ascii=False), flush=True)
    for w, run in (("b1", b1_cases), ("b2", b2_cases), ("b3", b3_cases), ("b4", b4_cases),
                   ("b5", b5_cases), ("b6", b6_cases), ("b7", b7_cases)):
        if w in only:
            run(mods, timer, results, precisions)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"machine": machine, "results": results}, f, ensure_ascii=False, indent=2)
        f.write("\n")
    print(f"wrote {len(results)} results to {args.out}")


if __name__ == "__main__":
    main()
