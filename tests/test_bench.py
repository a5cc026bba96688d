"""The benchmarks' committed results and the README's Performance section agree."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


summary = _load("summary")


def _results():
    return {k: json.loads((RESULTS / f"{k}.json").read_text())
            for k in ("corruption", "throughput", "memory", "time_to_quality") if (RESULTS / f"{k}.json").exists()}


def test_every_benchmark_has_committed_results_with_provenance():
    results = _results()
    assert set(results) == {"corruption", "throughput", "memory", "time_to_quality"}
    for name, r in results.items():
        assert r["date"] and r["command"].startswith(f"python bench/{name}.py"), name
    assert (RESULTS / "summary.png").stat().st_size > 10_000


def test_readme_performance_section_is_generated_from_the_results():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(summary.BEGIN, 1)[1].split(summary.END, 1)[0].strip()
    assert section == summary.render_markdown(_results()).strip(), (
        "README's Performance section is stale: run `python bench/summary.py`."
    )


def test_ratios_are_computed_from_the_times():
    r = _results()["corruption"]
    for name, seconds in r["seconds_best"].items():
        assert r["speedup_vs_study"][name] == pytest.approx(r["seconds_best"]["study"] / seconds)
    m = _results()["memory"]
    assert m["ratio_ours_to_study"] == pytest.approx(m["peak_rss_mb"]["ours"] / m["peak_rss_mb"]["study"])


def test_corruption_benchmark_runs_on_a_small_set(tmp_path, monkeypatch):
    bench = _load("corruption")
    import numpy as np

    x = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    study = bench.study_loop(x)
    ours = bench.ours_corrupt(x)
    assert study.shape == ours.shape == (64, 32, 32, 3)
    # Same corruption model: residuals from the clean images have matching scale.
    clean = x / 255.0
    assert abs(np.abs(study - clean).mean() - np.abs(ours - clean).mean()) < 0.01
    assert bench.agreement_with_opencv(x, n=16) < 1e-5
