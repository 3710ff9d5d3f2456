"""`kaobot bench --neighbour` and `--cold`: /whois on a shared CPU, and a cold `kaobot whois`.

--neighbour: the /whois path (decode, detect, embed, search; 1024², 3 faces) measured quiet, then
beside one CPU-bound process started by the bench: "mild", a spinning Python loop (one core), and
"heavy", float32 matrix products on torch's default threads (every core). The default pipeline is
measured with kaobot's thread choice (`inference.compute_threads: 1`) and with torch's default
(one thread per core); animeface runs on one thread whatever the setting.

--cold: fresh processes, as a user runs them: the wall time and peak resident memory of
`kaobot whois` (the default models, which run on their ONNX twins; the same models through torch;
`detector.backend: animeface`), of one call with three pictures, and a breakdown of one cold start
(imports, model building, the first picture), with and without torch.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import pipeline as pl
from . import report

NEIGHBOURS = ("mild", "heavy")
ROOT = Path(__file__).resolve().parents[2]


def _spin(ready) -> None:
    ready.set()
    x = 0
    while True:  # one core, pure Python
        x = (x + 1) % 1_000_003


def _matmul(ready) -> None:
    import torch

    a = torch.randn(768, 768)
    ready.set()
    while True:  # torch's default: one thread per core
        a = torch.tanh(a @ a)


def start_neighbour(kind: str) -> multiprocessing.Process:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_spin if kind == "mild" else _matmul, args=(ready,), daemon=True)
    proc.start()
    if not ready.wait(120):
        proc.terminate()
        raise RuntimeError(f"the {kind} neighbour did not start")
    time.sleep(1.0)  # let it reach full speed
    return proc


def _with_threads(pipe: pl.Pipeline, threads: int) -> pl.Pipeline:
    """`pipe` rebuilt on `threads` intra-op threads: ONNX Runtime sessions take them when built."""
    from recognition.detect import build_detector
    from recognition.device import configure_threads
    from recognition.embed import build_embedder

    configure_threads(threads)
    if pipe.backends is None:
        return pipe
    detector, embedder = pipe.backends
    return pl.Pipeline(pipe.name, build_detector(detector), build_embedder(embedder), pipe.backends)


async def neighbour_section(pipes: list[pl.Pipeline], reps: int) -> str:
    """`pipes`: the default pipeline, then animeface."""
    from recognition.device import apply_torch_threads, configure_threads

    cores = os.cpu_count() or 1
    configs = [
        (_with_threads(pipes[0], 1), 1, "1 (kaobot's choice)"),
        (_with_threads(pipes[0], cores), cores, f"{cores} (one per core, torch's default)"),
        (_with_threads(pipes[1], 1), 1, "1"),
    ]
    machine = report.machine()  # with the load average at the start
    results: dict[tuple[int, str | None], tuple[float, float]] = {}
    for kind in (None, *NEIGHBOURS):
        proc = start_neighbour(kind) if kind else None
        try:
            for index, (pipe, threads, _) in enumerate(configs):
                configure_threads(threads)
                apply_torch_threads()
                (row,) = await pl.stage_latency(pipe, reps, sizes=[(1024, 1024)], counts=[3])
                results[(index, kind)] = row["total"]
                print(
                    f"{pipe.name} threads={threads} neighbour={kind}: {row['total'][0]:.0f} / {row['total'][1]:.0f} ms"
                )
        finally:
            if proc is not None:
                proc.terminate()
                proc.join(10)
    configure_threads(1)
    apply_torch_threads()
    rows = []
    for index, (pipe, _, label) in enumerate(configs):
        quiet = results[(index, None)]
        cells = [f"{quiet[0]:.0f} / {quiet[1]:.0f}"]
        for kind in NEIGHBOURS:
            p50, p95 = results[(index, kind)]
            cells.append(f"{p50:.0f} / {p95:.0f} ({p50 / quiet[0]:.2f}×)")
        rows.append([pipe.name, label, *cells])
    return (
        f"`kaobot bench --neighbour` ({reps} runs after one warm-up; p50 / p95 ms of decode + detect + embed + "
        f"search, 1024×1024, 3 faces, a {pl.GALLERY_FACES}-face SQLite gallery; {machine}, "
        f"{os.getloadavg()[0]:.1f} at the end). The load average counts everything else the machine runs: "
        "above the number of cores, \"quiet\" is itself beside busy neighbours. Neighbours started by the bench "
        "beside the measurement: **mild**, one spinning Python process (one core); **heavy**, one process "
        "multiplying float32 matrices on torch's default threads (every core). In brackets: p50 beside the "
        'neighbour ÷ p50 quiet. "Threads": the intra-op threads of ONNX Runtime (the default models run on their ONNX twins) or torch (`inference.compute_threads`; inter-op 1).\n\n'
        + report.table(["pipeline", "threads", "quiet", "mild neighbour", "heavy neighbour"], rows)
    )


LAUNCHER = r"""
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as f:
    json.dump({"wall": wall, "rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "code": code}, f)
"""


def _run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, peak RSS MiB, stdout) of one fresh process.

    Started by a small launcher process: a process forked from this one (the bench, which has
    imported torch) and then exec'd would report this process's peak RSS as its own."""
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "measured.json"
        proc = subprocess.run([sys.executable, "-c", LAUNCHER, str(record), *args], capture_output=True, env=env,
                              cwd=ROOT)
        measured = json.loads(record.read_text())
    if measured["code"] != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return measured["wall"], measured["rss_kib"] / 1024, proc.stdout.decode()


BREAKDOWN = r"""
import json, sys, time
t = [time.perf_counter()]
import tools.cli  # noqa: F401
t.append(time.perf_counter())
from recognition import build_recognizer, load_settings
rec = build_recognizer(load_settings(sys.argv[3] or None, sys.argv[1]))
t.append(time.perf_counter())
analysis = rec.analyse(open(sys.argv[2], "rb").read())
t.append(time.perf_counter())
analysis = rec.analyse(open(sys.argv[2], "rb").read())
t.append(time.perf_counter())
status = {l.split(":")[0]: int(l.split()[1]) / 1024 for l in open("/proc/self/status") if l.startswith(("VmHWM", "RssAnon", "RssFile"))}
print(json.dumps({"steps": [b - a for a, b in zip(t, t[1:])], "memory": status, "torch": "torch" in sys.modules}))
"""
STEPS = ("import the CLI", "build the models", "first picture", "next picture")


def _torch_config(tmp: Path) -> Path:
    """Settings that load the default models' torch checkpoints, copied where they have no twin:
    the torch path the defaults took before they had ONNX twins (the descriptor head keeps its
    numpy twin; it was read with torch.load then, which imports torch as the network does)."""
    import shutil

    from recognition.weights import DEFAULT_DETECTOR, DEFAULT_EMBEDDER, resolve_model_path

    det, emb = tmp / "det.pt", tmp / "emb.pt"
    shutil.copyfile(resolve_model_path(DEFAULT_DETECTOR), det)
    shutil.copyfile(resolve_model_path(DEFAULT_EMBEDDER), emb)
    config = tmp / "torch.yaml"
    config.write_text(f"detector:\n  checkpoint: {det}\nembedder:\n  checkpoint: {emb}\n", encoding="utf-8")
    return config


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def cold_section(repeats: int = 3) -> str:
    """Each command `repeats` times, alternating; the median wall time and peak RSS, and every wall time."""
    env = {**os.environ}
    env.pop("KAOBOT_CONFIG", None)
    kaobot = [sys.executable, "-m", "tools.cli"]
    examples = ROOT / "examples"
    pictures = [str(examples / n) for n in ("alice-2.png", "bella.png", "pair.png")]
    machine = report.machine()  # with the load average at the start
    with tempfile.TemporaryDirectory() as tmp:
        data = str(Path(tmp) / "data")
        animeface = Path(tmp) / "animeface.yaml"
        animeface.write_text("detector:\n  backend: animeface\n", encoding="utf-8")
        torch_config = _torch_config(Path(tmp))
        _run_measured([*kaobot, "enroll", "--data-dir", data, "Alice", str(examples / "alice.png")], env)
        commands = [
            ("`kaobot whois` one picture, default models (ONNX Runtime twins, no torch)", [], pictures[:1]),
            ("`kaobot whois` three pictures in one call, default models", [], pictures),
            ("`kaobot whois` one picture, default models through torch (their checkpoints without twins)",
             ["--config", str(torch_config)], pictures[:1]),
            ("`kaobot whois` one picture, `detector.backend: animeface`", ["--config", str(animeface)], pictures[:1]),
        ]
        runs: list[list[tuple[float, float]]] = [[] for _ in commands]
        for _ in range(repeats):
            for i, (_, extra, images) in enumerate(commands):
                wall, rss, _ = _run_measured([*kaobot, "whois", "--data-dir", data, *extra, *images], env)
                runs[i].append((wall, rss))
        rows = []
        for (label, _, _), measured in zip(commands, runs):
            walls = [w for w, _ in measured]
            rows.append([label, f"{_median(walls):.2f}", ", ".join(f"{w:.2f}" for w in walls),
                         f"{_median([r for _, r in measured]):.0f}"])
            print(" | ".join(rows[-1]), flush=True)
        breakdowns = []
        for config in ("", str(torch_config)):
            _, _, out = _run_measured([sys.executable, "-c", BREAKDOWN, data, pictures[0], config], env)
            breakdowns.append(json.loads(out))
    lines = []
    for label, doc in zip(("default models", "default models through torch"), breakdowns):
        steps = ", ".join(f"{n} {s:.2f} s" for n, s in zip(STEPS, doc["steps"]))
        memory = doc["memory"]
        lines.append(
            f"- {label}{' (imports torch)' if doc['torch'] else ' (torch never imported)'}: {steps}; peak "
            f"{memory['VmHWM']:.0f} MiB, of which {memory['RssFile']:.0f} MiB mapped files (libraries, "
            f"shared between processes) and {memory['RssAnon']:.0f} MiB the process's own."
        )
    return (
        f"`kaobot bench --cold`: fresh processes as a user starts them ({repeats} runs of each command, "
        f"alternating; {machine}, {os.getloadavg()[0]:.1f} at the end). Wall time (median, and every run) "
        "and median peak resident memory (RSS) of the whole process; a gallery of one enrolled face.\n\n"
        + report.table(["command", "wall s (median)", "wall s (runs)", "peak RSS MiB"], rows)
        + "\n\nOne cold start step by step:\n\n" + "\n".join(lines)
    )


def warm_section(reps: int) -> str:
    """Warm decode + detect + embed of the default models on their ONNX twins and through torch, in one
    process, alternating picture by picture (so that a changing load weighs on both alike)."""
    from recognition.config import DetectorSettings, EmbedderSettings
    from recognition.detect import build_detector
    from recognition.device import apply_torch_threads, configure_threads
    from recognition.embed import build_embedder
    from recognition.images import ImageLimits, decode_image

    configure_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        config = _torch_config(Path(tmp))
        det, emb = (line.split(": ", 1)[1] for line in config.read_text().splitlines() if "checkpoint" in line)
        twin = (build_detector(DetectorSettings(device="cpu")), build_embedder(EmbedderSettings(device="cpu")))
        torch_path = (build_detector(DetectorSettings(device="cpu", checkpoint=det)),
                      build_embedder(EmbedderSettings(device="cpu", checkpoint=emb)))
    apply_torch_threads()
    machine = report.machine()  # torch's threads as set
    rows = []
    for size, count in (((512, 512), 1), ((1024, 1024), 3), ((1920, 1080), 3)):
        data, boxes = pl.scene(size, count)
        times: list[list[float]] = [[], []]
        for rep in range(reps + 1):
            for i, (detector, embedder) in enumerate((twin, torch_path)):
                start = time.perf_counter()
                image = decode_image(data, ImageLimits())
                detector.detect(image)
                embedder.embed(image, boxes)
                if rep:  # the first is a warm-up
                    times[i].append(time.perf_counter() - start)
        (t50, t95), (p50, p95) = (pl._pct(t) for t in times)
        rows.append([f"{size[0]}×{size[1]}", count, f"{t50:.0f} / {t95:.0f}", f"{p50:.0f} / {p95:.0f}", f"{t50 / p50:.2f}"])
        print(" | ".join(map(str, rows[-1])), flush=True)
    return (
        f"Warm, one process, the two alternating picture by picture ({reps} runs each after a warm-up; one intra-op "
        f"thread, kaobot's default; {machine}, {os.getloadavg()[0]:.1f} at the end): decode + detect + embed, "
        "p50 / p95 ms.\n\n"
        + report.table(["picture", "faces", "ONNX Runtime twins (default)", "torch", "twins ÷ torch (p50)"], rows)
    )
