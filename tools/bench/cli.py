"""`kaobot bench`'s arguments (the measurements themselves are in `tools.bench.run`, imported when it runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

PARTS = ("latency", "throughput", "search", "import", "web", "neighbour", "cold")
DOC = Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md"


def cmd_bench(args: argparse.Namespace) -> int:
    from tools.bench import run

    return run.cmd_bench(args)


def register(sub, add_common) -> None:
    p = sub.add_parser("bench", help="measure latency, throughput and search speed; write docs/benchmarks.md")
    p.add_argument("--quick", action="store_true", help="fewer repetitions, no 1M gallery")
    p.add_argument("--reps", type=int, default=10, help="timed runs per picture")
    p.add_argument("--ann-1m", action="store_true", help="also build an HNSW graph of 1M faces (long)")
    p.add_argument("--only", nargs="+", choices=PARTS, help="run only these parts")
    p.add_argument("--pipeline", action="append",
                   help="latency and throughput: only the pipelines whose name contains this (repeat for several)")
    p.add_argument(
        "--neighbour", action="store_true", help="/whois beside a busy process, mild and heavy (alone: only this)"
    )
    p.add_argument("--cold", action="store_true", help="a cold `kaobot whois`: wall time, peak RSS (alone: only this)")
    p.add_argument("--sizes", type=int, nargs="+", help="gallery sizes for the search part (default 10k 100k 1M)")
    p.add_argument("--out", default=str(DOC), help="Markdown file to update")
    p.add_argument("--no-write", action="store_true", help="print only")
    p.set_defaults(func=cmd_bench)
