"""The benchmarks write their records through tools.records, and the Performance section is generated."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tools import records, reports

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("corruption", "throughput", "memory", "time_to_quality")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


summary = _load("summary")


def _report(name):
    return records.read_report(ROOT / "reports" / f"bench_{name}.json")


def test_every_benchmark_has_committed_records_with_provenance():
    for name in NAMES:
        doc = _report(name)
        assert doc["records"] and doc["date"] and doc["command"].startswith(f"python bench/{name}.py"), name
    assert not (ROOT / "bench" / "results").exists()
    assert (ROOT / reports.BENCH_FIGURE).stat().st_size > 10_000


def test_performance_section_is_generated_from_the_records():
    text = (ROOT / "docs" / "research.md").read_text(encoding="utf-8")
    begin, end = records.markers("performance")
    section = text.split(begin, 1)[1].split(end, 1)[0].strip()
    assert section == reports.render_performance(ROOT).strip(), (
        "docs/research.md's Performance section is stale: run `python bench/summary.py`."
    )


def test_ratios_are_computed_from_the_times():
    r = _report("corruption")["records"]["corruption"]
    for name, seconds in r["seconds_best"].items():
        assert r["speedup_vs_study"][name] == pytest.approx(r["seconds_best"]["study"] / seconds)
    for m in _report("memory")["records"].values():
        assert m["ratio_ours_to_study"] == pytest.approx(m["peak_rss_mb"]["ours"] / m["peak_rss_mb"]["study"])


def test_time_to_quality_curves_are_the_cpu_budget_runs():
    budget = records.read_report(ROOT / "reports" / "cpu_budget.json")["records"]
    for key, curve in _report("time_to_quality")["records"].items():
        config, minutes = key.split(" (")
        run = budget[f"{config}@{minutes.removesuffix(' min)')}min"]
        assert curve["test_mse"] == [p["test_mse"] for p in run["curve"]]
        assert (curve["command"], curve["date"]) == (run["command"], run["date"])


def test_bench_scripts_write_through_records():
    for name in (*NAMES, "summary"):
        source = (ROOT / "bench" / f"{name}.py").read_text(encoding="utf-8")
        assert "deblur._io" not in source and "bench/results" not in source, name
        assert "datetime" not in source and "profiles.machine_info" not in source, name
    for name in NAMES:
        source = (ROOT / "bench" / f"{name}.py").read_text(encoding="utf-8")
        assert "records.update_report(" in source or "records.write_report(" in source, name


def test_summary_draws_the_figure_from_the_records(tmp_path):
    results = summary.load_results(ROOT)
    assert set(results) == set(NAMES)
    path = summary.draw(results, tmp_path / "summary.png")
    assert path.stat().st_size > 10_000


def test_corruption_benchmark_runs_on_a_small_set():
    bench = _load("corruption")
    x = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    study = bench.study_loop(x)
    ours = bench.ours_corrupt(x)
    assert study.shape == ours.shape == (64, 32, 32, 3)
    # Same corruption model: residuals from the clean images have matching scale.
    clean = x / 255.0
    assert abs(np.abs(study - clean).mean() - np.abs(ours - clean).mean()) < 0.01
    assert bench.agreement_with_opencv(x, n=16) < 1e-5


def test_corruption_benchmark_writes_its_record(tmp_path, monkeypatch):
    from deblur import data

    bench = _load("corruption")
    x = np.random.default_rng(0).integers(0, 256, (1040, 32, 32, 3), dtype=np.uint8)  # OpenCV check: 1,000
    y = np.zeros(len(x), np.int64)
    monkeypatch.setattr(data, "load_cifar10", lambda source=None: ((x[:1000], y[:1000]), (x[1000:], y[1000:])))
    out = tmp_path / "reports" / "bench_corruption.json"
    assert bench.main(["--repeats", "1", "--out", str(out)]) == 0
    doc = records.read_report(out)
    record = doc["records"]["corruption"]
    assert record["n_images"] == 1040 and set(record["seconds_best"]) == {"study", "corrupt", "pipeline"}
    assert record["command"] == doc["command"] == f"python bench/corruption.py --repeats 1 --out {out}"
    assert "avx512" in record["machine"] and record["date"]
    assert "Corrupting all 1,040 images" in reports.render_performance(tmp_path)


def test_throughput_benchmark_measures_every_input_path_and_renders(tmp_path):
    bench = _load("throughput")
    out = tmp_path / "reports" / "bench_throughput.json"
    assert bench.main(["--backends", "tensorflow", "--models", "deblurnet", "--steps", "1", "--repeats", "1",
                       "--fresh-workers", "1", "2", "--out", str(out)]) == 0
    doc = records.read_report(out)
    record = doc["records"]["tensorflow on CPU"]
    assert "error" not in record, record.get("error")
    m = record["models"]["deblurnet"]
    assert m["best_batch_size"] == 32 and set(m["train_images_per_s"]) == {"32"}
    rates = m["train_images_per_s"]["32"]
    assert set(rates) == {"pre-corrupted", "fresh-1", "fresh-2", "device"}
    assert all(r > 0 for r in rates.values()) and m["predict_images_per_s"] > 0
    assert record["command"] == doc["command"] and record["machine"]["backend"] == "tensorflow"
    table = "\n".join(reports._perf_throughput(doc))
    assert "| tensorflow on CPU | DeblurNet | 32 |" in table and "FreshCorruption w2" in table
    assert f"{rates['device'] / rates['pre-corrupted']:.2f}x" in table


def test_camera_benchmark_records_how_restore_cuts_each_image():
    from deblur import inference

    camera = _load("camera")
    assert camera._tiles(inference, "deblurnet_photo", 1024, 1024) == {"tile": 1044, "windows": 1}  # one pass
    assert camera._tiles(inference, "deblurnet_photo", 4000, 3000) == {"tile": 1044, "windows": 4 * 3}
    assert camera._tiles(inference, "cae", 1021, 1023) == {"tile": 512, "windows": 2 * 2}  # padded to 1024
    row = {"model": "deblurnet_photo", "width": 4000, "height": 3000, "megapixels": 12.0, "precision": "bfloat16",
           "restore_seconds": 12.0, "command_seconds": 19.0, "peak_rss_mb": 1160, "date": "2026-12-05 05:00 UTC",
           "machine": {"processor": "cpu", "cpu_count": 2, "avx512": True}, "tile": 984}
    rows = reports._camera_rows({"records": {"a": {**row, "windows": 20}, "b": {**row, "windows": 1}, "c": row,
                                             "d": {**row, "restore_seconds_runs": [1.2, 11.0, 12.0]}}})
    assert [r.split(" | ")[3] for r in rows] == ["984, 20 windows", "984, one pass", "984", "984"]
    assert [r.split(" | ")[4] for r in rows] == ["12.00", "12.00", "12.00", "12.00 (1.20-12.00)"]
