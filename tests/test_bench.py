"""`kaobot bench` runs end to end on small sizes (its numbers are not checked: benchmarks are not tests)."""

import pytest

from tools.bench import pipeline as pl
from tools.cli import main


def test_bench_search_and_import_write_their_sections(tmp_path, capsys):
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\n## Other section\n\nkept\n")
    assert main(["bench", "--only", "search", "import", "--sizes", "3000", "--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Other section\n\nkept" in text
    assert "## Gallery search" in text and "## Bulk import" in text
    rows = [line for line in text.splitlines() if line.startswith("| 3,000 |")]
    assert len(rows) == 6  # brute force, exact per character, int8 + re-rank, HNSW at three expansions
    assert all(" | 1.000 | " in row for row in rows[:3])  # exact modes and int8 + re-rank keep recall@1
    assert all(" | 1.000 | 1.000 | " in row for row in rows[1:3])  # ... and give float32's top 3 exactly


async def test_stage_latency_measures_every_stage():
    from recognition.detect.animeface_backend import AnimefaceDetector
    from recognition.embed.baseline import BaselineEmbedder

    p = pl.Pipeline("default", AnimefaceDetector(), BaselineEmbedder())
    (row,) = await pl.stage_latency(p, reps=1, sizes=[(512, 512)], counts=[3])
    assert row["faces"] == 3 and all(row[k][0] > 0 for k in ("decode", "detect", "embed", "search", "total"))


@pytest.mark.slow
def test_bench_web_writes_the_api_overhead_section(tmp_path):
    out = tmp_path / "benchmarks.md"
    assert main(["bench", "--only", "web", "--quick", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Web API overhead" in text and "load averages" in text
    (row,) = [line for line in text.splitlines() if line.startswith("| 1024×1024 | 3 |")]
    outside = float(row.split(" | ")[4].split(" / ")[0])
    assert outside > 0  # a real HTTP round trip costs something
