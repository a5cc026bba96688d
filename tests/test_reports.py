"""Every committed record has the one shape, and every generated table agrees with its record."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import records, reports

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN = [ROOT / "README.md", ROOT / "docs" / "results.md", ROOT / "docs" / "research.md"]
REGENERATE = ("`python tools/reports.py` (tables only), or re-measure with "
              "`python tools/reproduce.py --profile pretrained` (or the command in the record's `about`)")
EXPECTED_REPORTS = {
    "results", "baselines", "cpu_ablation", "cpu_budget", "ablation_gpu",
    "bench_corruption", "bench_throughput", "bench_memory", "bench_time_to_quality", "sweep", "blur_estimator", "ensemble", "quick_seeds",
    "levin", "real_blur", "photo_model",
}
METRICS = {"mse": 0.01, "psnr": 20.0, "ssim": 0.5, "n_images": 10}


def _report_files():
    return sorted((ROOT / "reports").glob("*.json"))


# ------------------------------------------------------------------ shape


def test_every_expected_report_is_committed():
    assert {p.stem for p in _report_files()} >= EXPECTED_REPORTS


@pytest.mark.parametrize("path", _report_files(), ids=lambda p: p.name)
def test_every_report_has_the_one_shape(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert list(doc) == list(records.REPORT_KEYS), f"{path.name}: top keys must be exactly {records.REPORT_KEYS}"
    assert doc["about"] and doc["command"] and doc["date"], path.name
    assert isinstance(doc["machine"], dict) and doc["machine"], path.name
    assert isinstance(doc["records"], dict) and doc["records"], path.name
    for key, record in doc["records"].items():
        missing = {"command", "machine", "date"} - set(record)
        assert not missing, f"{path.name}: record {key!r} lacks {sorted(missing)}"
        assert record["command"] and isinstance(record["machine"], dict) and record["machine"], (path.name, key)


def test_results_records_are_keyed_by_profile_and_method():
    recs = reports.load_report("results", ROOT)["records"]
    assert {r["profile"] for r in recs.values()} >= {"full", reports.SHIPPED_OURS, "pretrained", "quick",
                                                      reports.STUDY_REPORTED_PROFILE}
    for key, r in recs.items():
        assert key == reports.result_key(r)
        if r["profile"] != reports.STUDY_REPORTED_PROFILE:
            assert {"mse", "psnr", "ssim", "n_images", "trained", "data"} <= set(r), key


def test_shipped_records_are_the_model_cards():
    """``reproduce --profile pretrained`` refreshes these from the cards: they must not drift."""
    recs = reports.load_report("results", ROOT)["records"]
    cards = reports.card_records()
    assert set(cards) == {"full/identity", "full/cae", "full/win5rb", f"{reports.SHIPPED_OURS}/deblurnet"}
    for key, record in cards.items():
        assert recs[key] == record, key


# ---------------------------------------------------------- generated tables


def test_generated_tables_match_their_records():
    stale = reports.regenerate(ROOT, write=False)
    assert not stale, (f"{[str(p.relative_to(ROOT)) for p in stale]}: a generated table disagrees with its "
                       f"record in reports/. Regenerate with {REGENERATE}.")


def test_every_markdown_file_holds_its_generated_blocks():
    for rel, blocks in reports.generated_blocks(ROOT).items():
        text = (ROOT / rel).read_text(encoding="utf-8")
        for name in blocks:
            begin, end = records.markers(name)
            assert text.count(begin) == 1 and text.count(end) == 1, f"{rel}: block {name!r}"


def test_readme_and_docs_show_the_results_tables():
    recs = reports.load_report("results", ROOT)["records"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert reports.render_headline_table(recs) in readme
    full = reports.render_results_table(recs)
    assert full in (ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    assert "(study)" in full  # the study's reported numbers stay in their own labelled rows
    for r in recs.values():
        if r["profile"] != reports.STUDY_REPORTED_PROFILE:
            assert f"`{r['command']}`" in full


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail to docs/"


def _outside_generated_blocks(text):
    """The lines of a Markdown file outside generated blocks and code fences."""
    text = re.sub(r"<!-- ([\w-]+):begin .*?-->.*?<!-- \1:end -->", "", text, flags=re.S)
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: p.name)
def test_no_hand_pasted_number_in_a_table(path):
    rows = [line for line in _outside_generated_blocks(path.read_text(encoding="utf-8")) if line.startswith("|")]
    pasted = [row for row in rows if re.search(r"\d\.\d", row)]
    assert not pasted, (f"{path.name}: table rows with a decimal number outside a generated block: {pasted}. "
                        "Generate the table from a record in reports/ (tools/reports.py).")


def test_figures_linked_from_the_docs_exist():
    for path in MARKDOWN:
        for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", path.read_text(encoding="utf-8")):
            assert (path.parent / link).is_file(), f"{path.name} links a missing figure {link}"


def test_rendering_needs_no_keras():
    code = ("import sys; from tools import reports; reports.regenerate('.', write=False); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_regenerate_rewrites_a_stale_table_and_nothing_else(tmp_path):
    shutil.copytree(ROOT / "reports", tmp_path / "reports")
    (tmp_path / "docs").mkdir()
    for path in MARKDOWN:
        shutil.copy(path, tmp_path / path.relative_to(ROOT))
    report = tmp_path / "reports" / "results.json"
    doc = json.loads(report.read_text())
    doc["records"]["pretrained/cae"]["mse"] = 0.01234  # shown in README.md and docs/results.md only
    report.write_text(json.dumps(doc))
    assert reports.regenerate(tmp_path, write=False) == [tmp_path / "README.md", tmp_path / "docs" / "results.md"]
    assert "0.01234" not in (tmp_path / "README.md").read_text()  # write=False changes nothing
    assert reports.regenerate(tmp_path) == [tmp_path / "README.md", tmp_path / "docs" / "results.md"]
    assert "| 0.01234 " in (tmp_path / "README.md").read_text()  # then its interval, if the record has one
    assert "| cae | pretrained | 0.01234 |" in (tmp_path / "docs" / "results.md").read_text()
    assert (tmp_path / "docs" / "research.md").read_text() == (ROOT / "docs" / "research.md").read_text()
    assert reports.regenerate(tmp_path) == []


def test_regenerate_skips_missing_files_and_refuses_a_file_without_markers(tmp_path):
    shutil.copytree(ROOT / "reports", tmp_path / "reports")
    begin, end = records.markers("results-table")
    begin2, end2 = records.markers("camera-table")
    (tmp_path / "README.md").write_text(f"intro\n{begin}\nold\n{end}\n{begin2}\n{end2}\noutro\n")
    assert reports.regenerate(tmp_path) == [tmp_path / "README.md"]
    text = (tmp_path / "README.md").read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text
    (tmp_path / "README.md").write_text("no markers")
    with pytest.raises(ValueError, match="markers"):
        reports.regenerate(tmp_path)


def test_tables_of_an_empty_report_say_how_to_fill_them(tmp_path):
    empty = records.read_report(tmp_path / "missing.json")
    assert "python experiments/baselines.py" in reports.render_baselines_table(empty)
    assert "reproduce" in reports.render_headline_table({})
    assert "bench/" in reports.render_performance(tmp_path)
    assert "python bench/camera.py" in reports.render_camera_table(empty)
    assert "python experiments/quick_seeds.py" in reports.render_quick_seeds_table(empty)
    assert "python experiments/ensemble.py" in reports.render_ensemble_table(empty)
    assert "python experiments/sweep.py" in reports.render_sweep_table(empty)


def _provenance():
    return {"command": "python x.py", "machine": {"processor": "cpu", "cpu_count": 2}, "date": "2026-11-26 07:00 UTC"}


def test_headline_table_names_both_psnrs_and_shows_intervals():
    ci = {"mse_ci": [0.0026, 0.0028], "mean_psnr_ci": [26.1, 26.3], "psnr_of_mean_mse_ci": [25.5, 25.8],
          "bootstrap": {"confidence": 0.95, "n_resamples": 1000, "seed": 30, "method": "percentile"}}
    cae = reports.result_record("cae", "pretrained", {**METRICS, "mse": 0.0027, "ci": ci}, trained="t", data_source="s")
    assert cae["ci"] == ci
    table = reports.render_headline_table({"pretrained/cae": {**cae, **_provenance()}})
    assert "mean of per-image PSNRs" in table and "PSNR of the mean MSE" in table
    assert "| 0.00270 [0.00260, 0.00280] | 20.00 [26.10, 26.30] | 25.69 [25.50, 25.80] |" in table
    assert "95% percentile bootstrap" in table and "1,000 resamples, seed 30" in table


def test_seed_and_ensemble_tables_show_every_run():
    runs = {f"seed{s}/cae": {"model": "cae", "seed": s, "mse": m, "psnr": 20.0 + s, "ssim": 0.5, "steps": 122,
                             "n_images": 1000, "n_train": 1200, "profile": "quick", "test_seed": 0,
                             "recipe": "122 steps", **_provenance()} for s, m in enumerate((0.004, 0.005, 0.006))}
    summary = {"summary/cae": {"model": "cae", "mse": {"mean": 0.005, "std": 0.001, "min": 0.004, "max": 0.006},
                               "psnr": {"mean": 21.0, "std": 1.0}, **_provenance()}}
    table = reports.render_quick_seeds_table({"records": {**runs, **summary}})
    assert "| CAE | 0.00400 (122) | 0.00500 (122) | 0.00600 (122) | 0.00500 ± 0.00100 | 0.00400 – 0.00600 |" in table
    assert table.endswith("![test MSE per seed](figures/quick_seeds.png)")
    ensemble = {"win5rb": {"model": "win5rb", "n_images": 500, "batch_size": 256, "load_average": 3.0,
                           "plain": {"mse": 0.0022, "psnr": 27.0}, "ensemble": {"mse": 0.0021, "psnr": 27.2},
                           "mse_reduction": 0.0454, "psnr_gain_db": 0.2, "mse_difference_ci": [0.00008, 0.00012],
                           "images_better": 0.8, "time_ratio": 8.1, **_provenance()}}
    table = reports.render_ensemble_table({"records": ensemble})
    assert "| Win5-RB | 0.00220 | 0.00210 | 4.5% [0.000080, 0.000120] | 27.00 → 27.20 (+0.20) | 80% | 8.1x |" in table
    assert table.endswith("![plain and ensemble test MSE](figures/ensemble.png)")


def test_every_figure_a_generated_block_links_is_in_the_repository():
    linked = set()
    for path, text in reports.render_files(ROOT).items():
        for target in re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text):
            linked.add((path.parent / target).resolve())
    names = {p.name for p in linked}
    assert {"ensemble.png", "quick_seeds.png", "blur_estimator.png", "nonblind.png"} <= names
    assert [p for p in linked if not p.is_file()] == []


# ----------------------------------------------------------- saving results


def test_save_results_replaces_one_profile_and_keeps_the_others(tmp_path):
    quick = reports.result_record("cae", "quick", METRICS, trained="x", data_source="s")
    full = reports.result_record("cae", "full", {**METRICS, "mse": 0.005}, trained="y", data_source="s")
    reports.save_results({"quick/cae": quick}, profile="quick", command="c1", root=tmp_path)
    reports.save_results({"full/cae": full}, profile="full", command="c2", root=tmp_path)
    # A key without its profile prefix gets it.
    reports.save_results({"cae": {**quick, "mse": 0.02}}, profile="quick", command="c3", root=tmp_path)
    doc = records.read_report(tmp_path / "reports" / "results.json")
    assert set(doc["records"]) == {"quick/cae", "full/cae"}
    assert doc["records"]["quick/cae"]["mse"] == 0.02 and doc["records"]["quick/cae"]["command"] == "c3"
    assert doc["records"]["full/cae"]["command"] == "c2" and doc["command"] == "c3"
    assert {"command", "machine", "date"} <= set(doc["records"]["full/cae"])
    assert "| cae | quick | 0.02000 |" in reports.render_results_table(doc["records"])
    # Every old record of the profile goes, even one the new run does not measure.
    identity = reports.result_record(reports.IDENTITY, "quick", METRICS, trained="–", data_source="s")
    reports.save_results({reports.result_key(identity): identity}, profile="quick", command="c4", root=tmp_path)
    assert set(records.read_report(tmp_path / "reports" / "results.json")["records"]) == {"full/cae", "quick/identity"}
    with pytest.raises(ValueError, match="profile"):
        reports.save_results({"full/cae": full}, profile="quick", command="c5", root=tmp_path)


def test_save_results_keeps_a_record_s_own_provenance(tmp_path):
    card = {**reports.result_record("win5rb", "full", METRICS, trained="t", data_source="s"),
            "command": "trained elsewhere", "machine": {"description": "a GPU"}, "date": "2026-01-01"}
    reports.save_results({"full/win5rb": card}, profile=("full", reports.SHIPPED_OURS), command="now",
                         root=tmp_path)
    record = records.read_report(tmp_path / "reports" / "results.json")["records"]["full/win5rb"]
    assert (record["command"], record["machine"], record["date"]) == ("trained elsewhere", {"description": "a GPU"},
                                                                      "2026-01-01")
    assert "a GPU" in reports.render_results_table({"full/win5rb": record})


@pytest.mark.slow
def test_reproduce_pretrained_rewrites_report_and_readme(tmp_path, monkeypatch, stand_in_archive):
    import importlib.util

    spec = importlib.util.spec_from_file_location("tools_reproduce", ROOT / "tools" / "reproduce.py")
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
    monkeypatch.chdir(tmp_path)
    begin, end = records.markers("results-table")
    begin2, end2 = records.markers("camera-table")
    (tmp_path / "README.md").write_text(f"# x\n{begin}\n{end}\n{begin2}\n{end2}\n")
    code = reproduce.main(["--profile", "pretrained", "--n-test", "64", "--data", str(stand_in_archive)])
    assert code == 0
    recs = reports.load_report("results", tmp_path)["records"]
    pre = {r["method"]: r for r in recs.values() if r["profile"] == "pretrained"}
    assert set(pre) == {reports.IDENTITY, "cae", "win5rb", "deblurnet"}
    assert all(r["n_images"] == 64 for r in pre.values())
    assert pre["win5rb"]["mse"] < pre[reports.IDENTITY]["mse"]
    assert "--n-test 64" in pre["cae"]["command"] and pre["cae"]["machine"]["cpu_count"]
    assert {r["profile"] for r in recs.values()} == {"pretrained", "full", reports.SHIPPED_OURS}
    readme = (tmp_path / "README.md").read_text()
    assert reports.render_headline_table(recs) in readme and "| win5rb |" in readme


def test_quick_recipe_table_bolds_each_models_choice_and_says_whether_it_beats_doing_nothing():
    row = {"mse": 0.005, "validation_mse": 0.0051, "steps": 467}
    record = {"identity": {"mse": 0.00668}, "recorded_steps": {"cae": {"steps": 122, "hold_steps": 8}},
              "screen": {"cae/lr0.001/b32": {**row, "model": "cae", "learning_rate": 1e-3, "batch_size": 32,
                                             "validation_mse": 0.0077, "steps": 122},
                         "cae/lr0.001/b8": {**row, "model": "cae", "learning_rate": 1e-3, "batch_size": 8}},
              "check": {"cae": {"learning_rate": 1e-3, "batch_size": 8, "steps": 467, "per_seed_mse": [0.005, 0.007],
                                "mse": {"mean": 0.006, "std": 0.001}, "beats_identity_every_seed": False}},
              "check_seeds": [0, 1], "rule": "r", "command": "c", "machine": {}, "date": "2026-12-05 00:00 UTC"}
    table = reports.render_quick_recipe_table({"records": {"quick_recipe": record}})
    assert "| CAE | 0.001 | 8 | 467 | **0.00510** | 0.00500 |" in table
    assert "| CAE | 0.001 | 32 | 122 | 0.00770 | 0.00500 |" in table
    assert "| CAE, lr 0.001, batch 8 (467 steps) | 0.00500 | 0.00700 | 0.00600 ± 0.00100 | **no** |" in table
    assert "none yet" in reports.render_quick_recipe_table({"records": {}}).lower() or "python experiments" in (
        reports.render_quick_recipe_table({"records": {}}))


def test_cpu_model_table_gives_ratios_and_says_whether_the_bar_was_met(tmp_path):
    empty = records.read_report(tmp_path / "missing.json")
    assert "--out reports/cpu_model.json" in reports.render_cpu_model_table(empty)
    run = {**_provenance(), "budget_minutes": 150, "train_seconds_recorded": 9300.0, "training_precision": "bfloat16",
           "images_seen": 2_733_280, "gflops_per_image": 0.3559, "test_mse_ci95": [0.00195, 0.00199],
           "predict_images_per_s_float32": 522.6, "measured_train_images_per_s": 303.7}
    results = {"full/win5rb": {"mse": 0.0022}, f"{reports.SHIPPED_OURS}/deblurnet": {"mse": 0.0021}}
    missed = reports.render_cpu_model_table({"records": {"wide": {**run, "test_mse": 0.00198}}}, results)
    row = next(line for line in missed.splitlines() if line.startswith("| wide"))
    assert "0.00198 [0.00195, 0.00199] | 0.900 | 0.943 |" in row and row.endswith("| **missed** |")
    assert "150 min, 155 min wall, bfloat16" in row and "2,733,280" in row
    met = reports.render_cpu_model_table({"records": {"wide": {**run, "test_mse": 0.0019}}}, results)
    assert met.splitlines()[2].endswith("| **met** |")
    flips = {**run, "test_mse": 0.00197, "test_mse_flips_averaged": 0.00193,
             "test_mse_flips_averaged_ci95": [0.00191, 0.00195], "command": "python two.py"}
    both = reports.render_cpu_model_table({"records": {"wide": {**run, "test_mse": 0.00198}, "two_scale": flips}},
                                          results)
    row = next(line for line in both.splitlines() if line.startswith("| two_scale"))
    assert "| 0.00193 [0.00191, 0.00195] |" in row and row.endswith("| **missed** |")  # the bar is on the plain MSE
    assert "| – |" in next(line for line in both.splitlines() if line.startswith("| wide"))
    assert "wide: `" in both and "two_scale: `python two.py`" in both


def test_photo_model_table_shows_every_candidate_and_says_when_the_bar_is_missed():
    # Issue 40: the ablation per family, and the bar line by line; a missed line keeps the default as it is.
    report = records.read_report(ROOT / "reports" / "photo_model.json")
    table = reports.render_photo_model_table(report)
    ablation = report["records"]["ablation"]
    for name in ablation["rows"]:
        assert f"| {'input (identity)' if name == 'identity' else name} |" in table
    assert f"Winner: **{ablation['winner']}**" in table
    level = lambda ok: {"psnr": 20.0, "input_psnr": 19.0, "gain": 1.0, "ok": ok}  # noqa: E731
    bar = {"bar": {"levin_db": 27.0, "gain_db": {"shake": 2.0}, "inside_mse_ratio": 1.1,
                   "inside_reference_mse": 0.00211},
           "levin": {**level(False), "published_db": [29.46, 32.45]}, "noise_std": 0.01,
           "photo_lines": [{"family": "shake", "strength": 7.0, **level(True), "psnr": 22.0, "gain": 3.0}],
           "inside": {"mse": 0.002, "ci": {"mse_ci": [0.0019, 0.0021]}, "ratio": 0.95, "ok": True},
           "do_no_harm": {"cifar": {"worst": {"margin_db": 0.1, "sigma": 0.0, "noise_std": 0.0}, "misses": [],
                                    "ok": True}},
           "camera": [], "meets_bar": False, **_provenance()}
    missed = reports.render_photo_model_table({"records": {"ablation": ablation, "bar": bar}})
    assert "| Levin et al., mean PSNR (no shift) | 19.00 -> 20.00 dB (published 29.46-32.45) | >= 27 dB | **no** |" \
        in missed
    assert "| photos, shake 7 (noise 0.01) | 19.00 -> 22.00 dB (+3.00) | >= +2 dB | yes |" in missed
    assert ("| inside the study's range, test MSE (10,000 CIFAR) | 0.00200 [0.00190, 0.00210], 0.95x 0.00211 | "
            "<= 1.10x | yes |") in missed
    assert "Meets every line: **no** (so it does not become the default)" in missed
