"""Flower's deployment engine beside Parity P2P: the same Iris session, the same machine, the same run.

Flower side: a real `flower-superlink` and N `flower-supernode` processes (insecure, 127.0.0.1; the deployment
engine, not the simulation engine) run bench/flower_app (ServerApp with FedAvg, ClientApp). Parity side:
bench/rounds.py's `measure(runners, rounds)` (anvil + N `parity-node start` processes). Both train the demo's
Iris MLP with rounds.py's recipe (non-IID Dirichlet alpha 0.5, FedAvg, 2 local epochs, lr 0.05, batch 8, SGD).

Shards, held-out set, initial weights and per-(round, runner) training seeds come from Parity's own
`SessionWork.prepare` (the code every node runs; Parity's session seed when rounds.py returns it, else a fixed
one, see SEED), and the ClientApps train through `parity_p2p.learning` itself (bench/flower_app/paritybench/
recipe.py). Per round: wall time, training time (reported by the ClientApps as metrics, slowest node; a fresh
ClientApp process's torch warm-up is timed apart and stays in the overhead), non-training overhead = wall -
training; the final accuracy on the held-out set. Parity runs first, then Flower, never at the same time (two
cores). An in-process replay of Parity's round logic on Flower's draw checks that Flower computed the same
models (`replay_*`), and the replay over other seeds shows how much the final accuracy moves with the draw alone.

Flower runs in its own venv, .venv-flower, built here on first use (idempotent): flwr 1.42.0 requires
typer<0.21 (ours: 0.29.1), rich<15 (textual brings 15) and packaging<26, so it cannot join our venv without
changing our pins. Our package is not installed there; a .pth file lets that venv import the main venv's torch
and numpy (one torch on disk, the same build), and the app imports parity_p2p.learning from the source tree.

    .venv/bin/python bench/flower_compare.py [--runners 4 8] [--rounds 6]   # writes results/flower_compare.*
    .venv/bin/python bench/flower_compare.py --setup-only                     # just build .venv-flower
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
APP_DIR = BENCH / "flower_app"
REQUIREMENTS = APP_DIR / "requirements.txt"
FLOWER_VENV = REPO / ".venv-flower"
RESULTS = BENCH / "results"
EXAMPLES = REPO / "examples"
# Parity's session seed is on-chain randomness (prevrandao). When rounds.py's result carries it (fields
# `session_seed` and `participants`), Flower replays that very session; until then Flower uses this fixed seed
# through the same derivation: same partitioner and parameters, other draws.
SEED = hashlib.sha256(b"bench/flower_compare.py session seed").digest()
# bench/rounds.py's measure() recipe: DemoOptions(runners, rounds, "non_iid", 0.5, "fedavg", 2, 0.05, 30, ...).
SPLIT, ALPHA, AGGREGATION, LOCAL_EPOCHS, LEARNING_RATE, ROUND_TIMEOUT = "non_iid", 0.5, "fedavg", 2, 0.05, 30
SPREAD_SEEDS = 10
START_TIMEOUT_S = 120.0
STOP_GRACE_S = 5.0


class FlowerBenchError(RuntimeError):
    """The Flower side could not be set up or did not complete."""


class FlowerSetupError(FlowerBenchError):
    def __init__(self, command: list[str], output: str) -> None:
        super().__init__(f"{' '.join(command)} failed:\n{output[-3000:]}")
        self.command = command
        self.output = output


class FlowerRunError(FlowerBenchError):
    def __init__(self, what: str, log: Path) -> None:
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
        super().__init__(f"{what}; end of {log}:\n{tail}")
        self.log = log


# ---------------------------------------------------------------- the Flower venv


def ensure_flower_venv() -> Path:
    """Build .venv-flower from bench/flower_app/requirements.txt unless it already matches; its python."""
    python = FLOWER_VENV / "bin" / "python"
    marker = FLOWER_VENV / ".parity-requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    base = getattr(sys, "_base_executable", sys.executable)
    _check([base, "-m", "venv", "--clear", str(FLOWER_VENV)])
    _check([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)])
    purelib = Path(_check([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).strip())
    # Appended after the venv's own site-packages: Flower's pins win, torch (absent there) comes from ours.
    (purelib / "parity.pth").write_text(sysconfig.get_path("purelib") + "\n")
    marker.write_text(wanted)
    return python


def _check(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise FlowerSetupError(command, done.stdout + done.stderr)
    return done.stdout


# ---------------------------------------------------------------- the shared recipe


@dataclass(frozen=True)
class Replay:
    """The recipe written for Flower, and Parity's round logic run in process on it."""

    meta: dict[str, Any]
    accuracies: list[float]  # after each round, on the held-out set
    final_state: dict[str, np.ndarray]


@dataclass(frozen=True)
class SessionDraw:
    """What fixes a session's shards, held-out set, initial model and training seeds besides the spec."""

    seed: bytes
    participants: list[str]
    from_parity: bool  # the very session Parity's nodes ran, or a fixed seed with made-up runner ids

    @classmethod
    def fixed(cls, runners: int, seed: bytes = SEED) -> SessionDraw:
        return cls(seed, [f"0x{index:040x}" for index in range(1, runners + 1)], False)

    @classmethod
    def of(cls, parity: Any, runners: int) -> SessionDraw:
        """Parity's own draw when its result carries one, else the fixed one."""
        seed, participants = getattr(parity, "session_seed", None), getattr(parity, "participants", None)
        if not seed or not participants:  # absent, or rounds.py's empty defaults
            return cls.fixed(runners)
        raw = bytes.fromhex(seed.removeprefix("0x")) if isinstance(seed, str) else bytes(seed)
        return cls(raw, [str(p) for p in participants], True)


def _session_work(runners: int, rounds: int, draw: SessionDraw) -> tuple[Any, list[str]]:
    """The SessionWork every Parity node derives for rounds.py's session, with `draw`'s seed and participants."""
    from parity_p2p.devnet.demo import DemoOptions, iris_spec
    from parity_p2p.node.work import SessionWork
    from parity_p2p.storage import compute_cid

    options = DemoOptions(runners, rounds, SPLIT, ALPHA, AGGREGATION, LOCAL_EPOCHS, LEARNING_RATE, ROUND_TIMEOUT,
                          Path("unused"), 0)  # fmt: skip
    dataset = (EXAMPLES / "iris.csv").read_bytes()
    work = SessionWork.prepare(1, iris_spec(options, compute_cid(dataset)), dataset, draw.seed, draw.participants)
    return work, sorted(work.participants, key=lambda runner: int(runner, 16))


def write_recipe(folder: Path, runners: int, rounds: int, draw: SessionDraw) -> Replay:
    """Shards, held-out set, initial weights and training seeds from Parity's SessionWork; returns the replay."""
    from parity_p2p.node.work import evaluate_state

    work, participants = _session_work(runners, rounds, draw)
    arrays: dict[str, Any] = {"x/eval": work.eval.features, "y/eval": work.eval.labels}
    for index, runner in enumerate(participants):
        shard = work.shard(runner)
        arrays[f"x/{index}"], arrays[f"y/{index}"] = shard.features, shard.labels
    for name, tensor in work.initial_state().items():
        arrays[f"init/{name}"] = tensor.numpy()
    arrays["seeds"] = np.array(
        [[work.train_config(r, p).seed for p in participants] for r in range(1, rounds + 1)], dtype=np.int64
    )
    training = work.spec.training
    meta = {
        "repo_root": str(REPO),
        "partitions": runners,
        "rounds": rounds,
        "model": work.spec.model,
        "training": {"lr": training.learning_rate, "batch_size": training.batch_size,
                     "local_epochs": training.local_epochs, "optimizer": training.optimizer},
        "split": {"strategy": SPLIT, "alpha": ALPHA},
        "session_seed": draw.seed.hex(),
        "same_session_as_parity": draw.from_parity,
        "shard_sizes": [int(work.shard_sizes[p]) for p in participants],
        "eval_rows": len(work.eval),
    }  # fmt: skip
    np.savez(folder / "arrays.npz", **arrays)
    (folder / "recipe.json").write_text(json.dumps(meta, indent=2) + "\n")
    states = _replay(work, participants, rounds)
    accuracies = [float(evaluate_state(work, s).accuracy or 0.0) for s in states]
    return Replay(meta, accuracies, {name: tensor.numpy() for name, tensor in states[-1].items()})


def seed_spread(runners: int, rounds: int, seeds: int = SPREAD_SEEDS) -> dict[str, float]:
    """Final accuracy of the replay over `seeds` other session seeds (other shards, held-out sets, inits).

    Flower on a seed computes the replay's model on that seed (checked for SEED), and so do Parity's nodes on
    theirs (followers recompute it): this spread is where either system's single final accuracy can fall.
    """
    from parity_p2p.node.work import evaluate_state

    finals = []
    for index in range(seeds):
        draw = SessionDraw.fixed(runners, hashlib.sha256(SEED + bytes([index])).digest())
        work, participants = _session_work(runners, rounds, draw)
        final = _replay(work, participants, rounds)[-1]
        finals.append(float(evaluate_state(work, final).accuracy or 0.0))
    return {"seeds": seeds, "min": min(finals), "median": statistics.median(finals), "max": max(finals)}


def _replay(work: Any, participants: list[str], rounds: int) -> list[Any]:
    """Parity's round logic in process (train every shard, the session strategy's aggregate): each round's model."""
    import torch

    from parity_p2p.learning.models import build_model
    from parity_p2p.learning.strategies import ClientUpdate
    from parity_p2p.learning.trainer import train_local
    from parity_p2p.node.work import aggregate

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a thread pool costs more than it saves on two busy cores
    try:
        states = [work.initial_state()]
        for number in range(1, rounds + 1):
            updates = []
            for runner in participants:
                config = work.train_config(number, runner)
                local = train_local(build_model(work.config), states[-1], work.shard(runner), config)
                m = local.metrics
                updates.append(ClientUpdate(local.delta, m.data_size, m.local_steps, local.norm_factor, runner))
            states.append(aggregate(work, number, states[-1], updates).state)
        return states[1:]
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- Flower processes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(root: int) -> list[int]:
    """`root` and its descendants (Flower detaches its SuperExec into a new session: not in our group)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def stop_trees(roots: list[int]) -> None:
    """SIGTERM every process group and process under `roots`, then SIGKILL what is left after a grace period."""
    pids = [pid for root in roots for pid in _tree(root)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, sig) if os.getpgid(pid) == pid else os.kill(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Deployment:
    """A SuperLink and N SuperNodes on 127.0.0.1, each process in its own group, logs and homes under `root`."""

    root: Path
    nodes: int

    def __post_init__(self) -> None:
        self.port = _free_port()
        self.procs: list[subprocess.Popen[bytes]] = []
        self.bin = FLOWER_VENV / "bin"

    def env(self, home: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        env.update(PATH=f"{self.bin}:{env.get('PATH', '')}", FLWR_HOME=str(self.root / home),
                   FLWR_TELEMETRY_ENABLED="0", FLWR_DISABLE_UPDATE_CHECK="1", PYTHONUNBUFFERED="1")  # fmt: skip
        return env

    def _spawn(self, args: list[str], home: str, log: str) -> subprocess.Popen[bytes]:
        with (self.root / log).open("wb") as out:
            proc = subprocess.Popen(args, env=self.env(home), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=self.root, start_new_session=True)  # fmt: skip
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Deployment:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        stop_trees([p.pid for p in self.procs])
        for proc in self.procs:
            proc.wait()

    def _start(self) -> None:
        self._spawn([str(self.bin / "flower-superlink"), "--insecure", "--disable-runtime-dependency-installation",
                     "--host", "127.0.0.1", "--port", str(self.port)], "home-link", "superlink.log")  # fmt: skip
        self._wait_log("superlink.log", "Application startup complete", 1, "the SuperLink to listen")
        for index in range(self.nodes):
            self._spawn([str(self.bin / "flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{self.port}",
                         "--port", str(_free_port()),
                         "--node-config", f"partition-id={index} num-partitions={self.nodes}"],
                        f"home-node{index}", f"supernode{index}.log")  # fmt: skip
        self._wait_log("superlink.log", "Activated node_id", self.nodes, f"{self.nodes} SuperNodes to join")
        config = self.root / "home-cli" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(f'[superlink]\ndefault = "bench"\n\n[superlink.bench]\n'
                          f'address = "127.0.0.1:{self.port}"\ninsecure = true\n')  # fmt: skip

    def _wait_log(self, log: str, needle: str, count: int, what: str) -> None:
        path = self.root / log
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if path.exists() and path.read_text(errors="replace").count(needle) >= count:
                return
            if any(p.poll() is not None for p in self.procs):
                raise FlowerRunError(f"a Flower process exited while waiting for {what}", path)
            time.sleep(0.05)
        raise FlowerRunError(f"timed out after {START_TIMEOUT_S:g} s waiting for {what}", path)

    def run_app(self, bench_dir: Path, timeout: float) -> None:
        """`flwr run` the app against this SuperLink and stream its logs until the run ends."""
        log = self.root / "flwr-run.log"
        proc = self._spawn([str(self.bin / "flwr"), "run", str(APP_DIR), "bench", "--stream",
                            "--run-config", f'bench-dir="{bench_dir}"'], "home-cli", log.name)  # fmt: skip
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise FlowerRunError(f"the Flower run did not finish in {timeout:g} s", log) from None
        if code != 0:
            raise FlowerRunError(f"flwr run exited with {code}", log)


# ---------------------------------------------------------------- one comparison


@dataclass(frozen=True)
class FlowerRound:
    round: int
    wall_seconds: float
    train_seconds_max: float
    train_seconds_median: float
    overhead_seconds: float
    warm_up_seconds_max: float  # the fresh ClientApp process's torch warm-up, part of the overhead
    replies: int
    eval_accuracy: float


@dataclass(frozen=True)
class FlowerResult:
    runners: int
    rounds: list[FlowerRound]
    median_wall_seconds: float
    median_train_seconds: float
    median_overhead_seconds: float
    final_accuracy: float
    deployment_up_seconds: float
    run_seconds: float


def measure_flower(runners: int, rounds: int, draw: SessionDraw) -> tuple[FlowerResult, Replay, float]:
    """One Flower deployment for `runners` SuperNodes and `rounds` rounds; also the in-process replay and the
    largest absolute weight difference between Flower's final model and the replay's."""
    ensure_flower_venv()
    with tempfile.TemporaryDirectory(prefix="bench-flower-") as tmp:
        root = Path(tmp)
        bench_dir = root / "recipe"
        bench_dir.mkdir()
        replay = write_recipe(bench_dir, runners, rounds, draw)
        up_started = time.monotonic()
        with Deployment(root, runners) as deployment:
            up = time.monotonic() - up_started
            run_started = time.monotonic()
            deployment.run_app(bench_dir, timeout=120.0 + 60.0 * rounds)
            run_seconds = time.monotonic() - run_started
            result_file = bench_dir / "flower_result.json"
            if not result_file.exists():
                raise FlowerRunError("the ServerApp wrote no result", root / "flwr-run.log")
            raw = json.loads(result_file.read_text())
            with np.load(bench_dir / "flower_final.npz") as final:
                weight_diff = max(float(np.abs(final[k] - v).max()) for k, v in replay.final_state.items())
    rows = [
        FlowerRound(r["round"], r["wall_seconds"], r["train_seconds_max"], r["train_seconds_median"],
                    r["wall_seconds"] - r["train_seconds_max"], r["warm_up_seconds_max"], r["replies"],
                    r["eval_accuracy"])
        for r in raw["rounds"]
    ]  # fmt: skip
    if any(r.replies != runners for r in rows):
        raise FlowerBenchError(f"a round aggregated fewer than {runners} replies: {[r.replies for r in rows]}")
    steady = rows[1:] if len(rows) > 1 else rows  # round 1 also installs the app on every node, like rounds.py
    result = FlowerResult(
        runners, rows,
        statistics.median(r.wall_seconds for r in steady),
        statistics.median(r.train_seconds_max for r in steady),
        statistics.median(r.overhead_seconds for r in steady),
        rows[-1].eval_accuracy, up, run_seconds,
    )  # fmt: skip
    print(
        f"flower {runners:2} nodes: wall {result.median_wall_seconds:.3f} s/round, training (slowest node) "
        f"{result.median_train_seconds:.3f} s, non-training overhead {result.median_overhead_seconds:.3f} s; "
        f"final accuracy {result.final_accuracy:.3f}",
        flush=True,
    )
    return result, replay, weight_diff


def compare(runners: int, rounds: int) -> dict[str, Any]:
    import rounds as parity_rounds  # bench/rounds.py (maintained elsewhere): only measure() and its result

    parity: dict[str, Any] | None = None
    parity_error = None
    draw = SessionDraw.fixed(runners)
    try:
        measured = parity_rounds.measure(runners, rounds)
        parity, draw = asdict(measured), SessionDraw.of(measured, runners)
    except Exception as error:  # the Flower figures are still worth having: keep them, report the failure
        parity_error = f"{type(error).__name__}: {error}"
        print(f"parity {runners:2} nodes: FAILED, {parity_error}", file=sys.stderr, flush=True)
    flower, replay, weight_diff = measure_flower(runners, rounds, draw)
    flower_accuracies = [r.eval_accuracy for r in flower.rounds]
    parity_overhead = parity["median_overhead_seconds"] if parity else 0.0
    ratio = flower.median_overhead_seconds / parity_overhead if parity_overhead > 0 else None
    return {
        "runners": runners,
        "rounds": rounds,
        "flower": asdict(flower),
        "parity": parity,
        "parity_error": parity_error,
        "overhead_ratio_flower_over_parity": ratio,
        "replay_accuracies": replay.accuracies,
        "replay_max_abs_accuracy_diff": max(
            abs(a - b) for a, b in zip(replay.accuracies, flower_accuracies, strict=True)
        ),
        "replay_max_abs_weight_diff": weight_diff,
        "replay_final_accuracy_over_seeds": seed_spread(runners, rounds),
        "recipe": {k: v for k, v in replay.meta.items() if k != "repo_root"},
    }


# ---------------------------------------------------------------- reports


def markdown(comparisons: list[dict[str, Any]], report: dict[str, Any]) -> str:
    load = report["load_average_1min_before_after"]
    lines = [
        "## Flower 1.42 deployment engine vs Parity P2P (Iris, same recipe, same machine, same run)",
        "",
        f"{report['machine']}; {report['when']}; load average {load[0]:.1f} before, {load[1]:.1f} after.",
        "Median of rounds 2..R. Overhead = wall time per round - training time of the slowest node.",
        "",
        "| nodes | rounds | Flower wall s | Flower overhead s | Parity wall s | Parity overhead s | "
        "overhead ratio Flower/Parity | same shards | Flower final acc | Parity final acc | replay final acc | "
        f"replay final acc over {SPREAD_SEEDS} other seeds (min / median / max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        f, p, spread = c["flower"], c["parity"], c["replay_final_accuracy_over_seeds"]
        ratio = c["overhead_ratio_flower_over_parity"]
        parity = f"{p['median_wall_seconds']:.3f} | {p['median_overhead_seconds']:.3f}" if p else "failed | failed"
        lines.append(
            f"| {c['runners']} | {c['rounds']} | {f['median_wall_seconds']:.3f} | {f['median_overhead_seconds']:.3f} | "
            f"{parity} | {'n/a' if ratio is None else f'{ratio:.1f}x'} | "
            f"{'yes' if c['recipe']['same_session_as_parity'] else 'no'} | {f['final_accuracy']:.3f} | "
            f"{p['final_accuracy'] if p else float('nan'):.3f} | {c['replay_accuracies'][-1]:.3f} | "
            f"{spread['min']:.3f} / {spread['median']:.3f} / {spread['max']:.3f} |"
        )
    failures = [
        f"- Parity P2P at {c['runners']} nodes failed: {c['parity_error']}" for c in comparisons if not c["parity"]
    ]
    lines += [
        "",
        "Flower's shards, held-out set, initial model and training seeds come from Parity's own SessionWork.",
        "same shards = yes: Flower replayed the very session Parity ran (seed and participants from rounds.py);",
        "no: rounds.py does not return its on-chain session seed, so Flower's data is another draw of the same",
        "partitioner (non-IID, alpha 0.5) from a fixed seed, and the two final accuracies are not comparable run",
        "against run. replay = Parity's round logic in process on Flower's draw: equal to Flower's accuracy (JSON:",
        "largest weight difference of the final models) when both engines computed the same models. The last column",
        "is that replay over other seeds: the spread of final accuracy this recipe has from the draw alone.",
        *failures,
    ]
    return "\n".join(lines) + "\n"


def plot(comparisons: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for c in comparisons:
        for system, style in (("flower", "-o"), ("parity", "--s")):
            if not c[system]:
                continue
            rows = c[system]["rounds"]
            ax.plot([r["round"] for r in rows], [r["overhead_seconds"] for r in rows], style,
                    label=f"{'Flower' if system == 'flower' else 'Parity P2P'}, {c['runners']} nodes")  # fmt: skip
    ax.set_xlabel("round")
    ax.set_ylabel("non-training overhead per round (s)")
    ax.set_yscale("log")
    ax.set_title("Iris: per-round overhead, Flower deployment engine vs Parity P2P")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(quick: bool) -> dict[str, Any]:
    """bench/run_all.py's entry: 4 nodes x 3 rounds when quick, else 4 and 8 nodes x 6 rounds."""
    return run_for((4,) if quick else (4, 8), 3 if quick else 6)


def run_for(runners: tuple[int, ...], rounds: int) -> dict[str, Any]:
    if rounds < 2:
        raise ValueError(f"rounds must be >= 2 (round 1 is left out of the medians), got {rounds}")
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    comparisons = [compare(n, rounds) for n in runners]
    report = {
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores, Python {platform.python_version()}",
        # The machine is shared: other work running beside the bench moves every figure here.
        "load_average_1min_before_after": [load_before, os.getloadavg()[0]],
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "flwr": "1.42.0",
        "seconds": time.perf_counter() - started,
        "comparisons": comparisons,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "flower_compare.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "flower_compare.md").write_text(markdown(comparisons, report))
    plot(comparisons, RESULTS / "flower_compare.png")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runners", type=int, nargs="+", default=[4, 8], help="SuperNodes / runner nodes (default 4 8)"
    )
    parser.add_argument("--rounds", type=int, default=6, help="rounds per session, >= 2 (default 6)")
    parser.add_argument("--setup-only", action="store_true", help="build .venv-flower and exit")
    args = parser.parse_args(argv)
    if any(not 2 <= n <= 16 for n in args.runners):
        parser.error("--runners must each be between 2 and 16")
    if args.rounds < 2:
        parser.error("--rounds must be >= 2 (round 1 is left out of the medians)")
    try:
        if args.setup_only:
            print(ensure_flower_venv())
            return 0
        report = run_for(tuple(args.runners), args.rounds)
    except FlowerBenchError as error:
        print(f"flower_compare failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: every process this bench started has been stopped", file=sys.stderr)
        return 130
    print(markdown(report["comparisons"], report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
