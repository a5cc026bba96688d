"""The command line against hostile and careless input: a table of subcommand x input class.

Every cell must end the same way: exit status 2, one line on stderr, and
every input file byte-for-byte unchanged (no file of the world folder
removed or altered, and no new file written where the call was refused).
The command line runs in-process (``cli.main(argv)``), so the table is cheap;
so does ``tools/reproduce.py`` (its ``main``), which refuses the same way.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deblur import cli, data

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_hostile", ROOT / "bench" / "hostile.py")
hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile)
_spec = importlib.util.spec_from_file_location("tools_reproduce", ROOT / "tools" / "reproduce.py")
reproduce = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reproduce)


def _main(argv):
    """``deblur ARGV`` in-process; ``reproduce ARGS``: ``python tools/reproduce.py ARGS``."""
    return reproduce.main(argv[1:]) if argv[0] == "reproduce" else cli.main(argv)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs of every kind, in one folder whose files must never change."""
    w = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(0)
    (w / "images").mkdir()
    (w / "images2").mkdir()  # images2/a.png and images3/a.jpg share their stem with images/a.png
    for name, shape in (("a.png", (20, 24, 3)), ("gray.png", (16, 16))):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(w / "images" / name)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(w / "images2" / "a.png")
    (w / "images3").mkdir()
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(w / "images3" / "a.jpg")
    tree = w / "datadir"  # a tiny image-folder CIFAR-10: 2 images per class and split
    for split in ("train", "test"):
        for cls in data.CLASS_NAMES:
            (tree / split / cls).mkdir(parents=True)
            for i in range(2):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tree / split / cls / f"{i}.png")
    with tarfile.open(w / "data.tar.gz", "w:gz") as tf:
        tf.add(tree, "cifar")
    hostile.oversized_zip(w / "oversized.zip", size=8 << 20)
    hostile.inflated_pickle(w / "inflated.tar.gz")
    (w / "victim.keras").write_bytes(b"someone's model")
    for run in (w / "run", w / "runroot" / "runs" / "deblurnet"):  # history.json points outside the folder
        run.mkdir(parents=True)
        (run / "config.json").write_text(json.dumps({"model": "deblurnet"}))
        (run / "history.json").write_text(json.dumps({
            "model": "deblurnet", "checkpoint": "../../victim.keras",
            "epochs": [{"loss": 0.1, "val_loss": 0.1, "learning_rate": 1e-3, "seconds": 1.0}]}))
    (w / "results.json").write_text(json.dumps({"by_sigma": {"cae": {"1-2": {"mse": 0.01}}}}))
    (w / "link_images").symlink_to(w / "images")
    (w / "link_data.json").symlink_to(w / "data.tar.gz")
    (w / "link_datadir").symlink_to(w / "datadir")
    (w / "link_victim.onnx").symlink_to(w / "victim.keras")
    return w


def _snapshot(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()}


# Each subcommand (and tools/reproduce.py), with {out} and {data} to fill in, and the good inputs it reads.
COMMANDS = {
    "corrupt": ["corrupt", "{world}/images", "--out", "{out}"],
    # --quiet: a progress bar is no error message (the bar is asserted in test_cli).
    "restore": ["restore", "{world}/images", "--model", "cae", "--quiet", "--out", "{out}"],
    "evaluate": ["evaluate", "--model", "cae", "--profile", "tiny", "--data", "{data}", "--out", "{out}"],
    "plot": ["plot", "--run", "cae={world}/run", "--results", "{world}/results.json", "--profile", "tiny",
             "--data", "{data}", "--out", "{out}"],
    "train": ["train", "--model", "deblurnet", "--profile", "tiny", "--steps", "1", "--data", "{data}",
              "--run-dir", "{out}"],
    "export": ["export", "--model", "deblurnet", "--format", "onnx", "--out", "{out}"],
    "reproduce": ["reproduce", "--profile", "quick", "--models", "deblurnet", "--n-test", "10", "--data", "{data}",
                  "--no-report", "--out", "{out}"],
}


def _out(cmd):
    """A fresh output path outside the world folder."""
    return {"evaluate": "{tmp}/o.json", "export": "{tmp}/o.onnx"}.get(cmd, "{tmp}/o")


# Input class -> {subcommand: (out, data)}; a subcommand missing from a class has no such input.
CASES = {
    "output is an input": {
        "corrupt": ("{world}/images/a.png", None), "restore": ("{world}/images/a.png", None),
        "evaluate": ("{world}/results.json", "{world}/results.json"), "plot": ("{world}/results.json", None),
        "train": ("{world}/datadir", "{world}/datadir"), "reproduce": ("{world}/datadir", "{world}/datadir"),
        "export": ("{world}/victim.keras", None),
    },
    "output inside an input": {
        "corrupt": ("{world}/images/sub", None), "restore": ("{world}/images/sub", None),
        "evaluate": ("{world}/datadir/r.json", "{world}/datadir"), "plot": ("{world}/run/figures", None),
        "train": ("{world}/datadir/runs", "{world}/datadir"), "reproduce": ("{world}/datadir/r", "{world}/datadir"),
        "export": ("{world}/run/model.onnx", None),
    },
    "symlinked output": {
        "corrupt": ("{world}/link_images", None), "restore": ("{world}/link_images", None),
        "evaluate": ("{world}/link_data.json", "{world}/data.tar.gz"),
        "plot": ("{world}/link_datadir", "{world}/datadir"),
        "train": ("{world}/link_datadir", "{world}/datadir"), "reproduce": ("{world}/link_datadir", "{world}/datadir"),
        "export": ("{world}/link_victim.onnx", None),
    },
    "duplicate stems": {"corrupt": ("{tmp}/o", None), "restore": ("{tmp}/o", None)},
    "oversized member": {cmd: (_out(cmd), "{world}/oversized.zip") for cmd in ("evaluate", "plot", "train",
                                                                              "reproduce")},
    "inflated pickle": {cmd: (_out(cmd), "{world}/inflated.tar.gz") for cmd in ("evaluate", "plot", "train",
                                                                               "reproduce")},
    "tampered run folder": {
        "restore": ("{tmp}/o", None), "evaluate": ("{tmp}/o.json", "{world}/data.tar.gz"),
        "plot": ("{tmp}/o", "{world}/data.tar.gz"), "train": ("{world}/runroot", "{world}/data.tar.gz"),
        "export": ("{tmp}/o.onnx", None),
    },
    # Issue 41, case 4: `evaluate --out deblur/weights/results.json` wrote into the package; --list-models failed.
    "output inside the package": {cmd: (_out(cmd).replace("{tmp}", "{pkg}/weights"), "{world}/data.tar.gz")
                                  for cmd in COMMANDS},
    "read-only target": {cmd: (_out(cmd), "{world}/data.tar.gz") for cmd in COMMANDS},
    "full disk": {cmd: (_out(cmd), "{world}/data.tar.gz") for cmd in COMMANDS},
}
MESSAGES = {
    "output is an input": ("is the input", "is a file", "has suffix", "inside the input"),
    "output inside an input": ("inside the input",),
    "symlinked output": ("same file as the input", "is a file", "is the input", "inside the input"),
    "duplicate stems": ("would both be written to",),
    "oversized member": ("more than the",),
    "inflated pickle": ("claims",),
    "tampered run folder": ("not a checkpoint file of this run folder", "different settings",
                            "different recipe or data"),
    "read-only target": ("read-only",),
    "full disk": ("disk is full",),
    "output inside the package": ("inside the installed deblur package",),
}
TABLE = [(case, cmd) for case, cmds in CASES.items() for cmd in cmds]


def _argv(case, cmd, world, tmp):
    out, source = CASES[case][cmd]
    argv = list(COMMANDS[cmd])
    if cmd == "export" and case in ("output is an input", "symlinked output"):
        argv[argv.index("--model") + 1] = "{world}/victim.keras"
    if cmd == "export" and case == "output inside an input" or case == "tampered run folder" and cmd in (
            "restore", "evaluate", "export"):
        argv[argv.index("--model") + 1] = "{world}/run"
    if case == "duplicate stems":
        argv[1:2] = ["{world}/images/a.png", "{world}/images2/a.png", "{world}/images3/a.jpg"]
    if source is None and "--data" in argv:
        source = "{world}/data.tar.gz"
    fill = {"world": world, "tmp": tmp, "out": out, "data": source, "pkg": cli.PACKAGE_DIR}
    return [a.format(**fill).format(**fill) for a in argv]


def _failing_replace(code):
    def replace(src, dst, **kwargs):
        raise OSError(code, os.strerror(code), str(dst))

    return replace


@pytest.mark.parametrize("case, cmd", TABLE, ids=[f"{cmd}-{case.replace(' ', '_')}" for case, cmd in TABLE])
def test_cli_refuses_with_one_line_and_keeps_every_input(world, tmp_path, monkeypatch, capsys, case, cmd):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    if case in ("read-only target", "full disk"):
        # The tests run as root, for whom file modes mean nothing: make every write fail as the kernel would
        # (EROFS, ENOSPC) at the two places every file is published (os.replace, os.link for results).
        failing = _failing_replace(errno.EROFS if case == "read-only target" else errno.ENOSPC)
        monkeypatch.setattr(os, "replace", failing)
        monkeypatch.setattr(os, "link", failing)
    before, package = _snapshot(world), _snapshot(cli.PACKAGE_DIR / "weights")
    code = _main(_argv(case, cmd, world, tmp_path))
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert any(m in err for m in MESSAGES[case]), err
    assert _snapshot(world) == before  # nothing changed, nothing removed, nothing added
    assert _snapshot(cli.PACKAGE_DIR / "weights") == package


def test_debug_shows_the_traceback(world, tmp_path, capsys):
    code = cli.main(["--debug", "evaluate", "--model", "cae", "--data", str(world / "inflated.tar.gz"),
                     "--out", str(tmp_path / "o.json")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" in err and err.strip().splitlines()[-1].startswith("deblur evaluate: error:")


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["evaluate", "--bogus"])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and "--help" in err


def test_a_real_process_prints_one_line_even_after_loading_keras(world, tmp_path):
    # TensorFlow's C++ start-up logging bypasses Python; the command line holds it back.
    env = dict(os.environ, DEBLUR_CACHE=str(tmp_path / "cache"))
    env.pop(data.ENV_VAR, None)
    proc = subprocess.run([sys.executable, "-m", "deblur", "evaluate", "--model", str(world / "run"), "--profile",
                           "tiny", "--data", str(world / "data.tar.gz"), "--out", str(tmp_path / "o.json")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert "not a checkpoint file of this run folder" in proc.stderr


def test_a_real_export_succeeds_with_nothing_on_stderr(tmp_path):
    # Issue 41, case 5: export printed TensorFlow's start-up log (twice) and a converter's warning on success.
    proc = subprocess.run([sys.executable, "-m", "deblur", "export", "--model", "cae", "--format", "onnx", "--out",
                           str(tmp_path / "cae.onnx")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.startswith("wrote") and (tmp_path / "cae.onnx").stat().st_size > 1000


# Issue 41, case 11: each message names the problem and the fix.
MESSAGE_CASES = {
    "a file named like an option": (["corrupt", "-x.png", "--out", "{tmp}/o"], "put -- before file names"),
    "--run-dir is a file": (["train", "--model", "cae", "--profile", "tiny", "--run-dir", "{tmp}/a.png",
                             "--data", "{world}/data.tar.gz"], "--run-dir {tmp}/a.png: is a file; --run-dir takes"),
    "a negative seed": (["corrupt", "{tmp}/a.png", "--out", "{tmp}/o", "--seed", "-1"],
                        "--seed: must be a non-negative integer (e.g. 0)"),
    "a 2x2 image in a batch": (["corrupt", "{tmp}/a.png", "{tmp}/tiny.png", "--out", "{tmp}/o"],
                               "tiny.png: Images of 2x2 are too small"),
}


@pytest.mark.parametrize("case", list(MESSAGE_CASES))
def test_a_message_names_the_problem_and_the_fix(world, tmp_path, monkeypatch, capsys, case):
    monkeypatch.chdir(tmp_path)
    for name, size in (("-x.png", 20), ("a.png", 20), ("tiny.png", 2)):
        Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(tmp_path / name)
    argv, expected = MESSAGE_CASES[case]
    fill = {"world": world, "tmp": tmp_path}
    try:
        code = cli.main([a.format(**fill) for a in argv])
    except SystemExit as usage:  # argparse's usage errors exit
        code = usage.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and expected.format(**fill) in err, err
    assert not (tmp_path / "o").exists()


def test_library_messages_name_the_fix():
    from deblur import corruption, inference

    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        corruption.corrupt(np.zeros((1, 8, 8, 3), np.uint8), seed="abc")
    with pytest.raises(ValueError, match=r"or 4 grayscale images \(pass images\[\.\.\., None\]\)"):
        inference.restore("cae", np.zeros((4, 16, 16), np.uint8))


# Issue 41, cases 10 and 7: a hand-edited results JSON gets one line before any drawing, bounded by its size.
def _row(mse):
    return {"[1.00, 2.00)": {"mse": mse, "n_images": 2}, "[2.00, 3.00)": {"mse": 0.01, "n_images": 2}}


RESULTS_CASES = {
    "a string mse": ({"by_sigma": {"cae": _row("0.01")}}, "has mse '0.01'"),
    "a NaN mse": ({"by_sigma": {"cae": _row(float("nan"))}}, "has mse nan"),
    "mismatched groups": ({"by_sigma": {"cae": _row(0.01), "win5rb": {"[1.00, 2.00)": {"mse": 0.01}}}},
                          "'win5rb' has groups"),
    "a list for the table": ({"by_sigma": [1, 2]}, "not a mapping of methods to groups"),
    "a list for the file": ([1, 2], "holds no per-sigma results"),
    "200k groups": ({"by_sigma": {"cae": {str(i): {"mse": 0.01} for i in range(200_000)}}}, "at most 64 methods"),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "cannot read results JSON (RecursionError"),
}


@pytest.mark.parametrize("case", list(RESULTS_CASES))
def test_plot_validates_a_results_json_before_drawing(tmp_path, capsys, case):
    saved, expected = RESULTS_CASES[case]
    path = tmp_path / "results.json"
    path.write_text(saved if isinstance(saved, str) else json.dumps(saved))
    code = cli.main(["plot", "--results", str(path), "--out", str(tmp_path / "figures")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "figures").exists()


# Issue 41, case 5: what N processes would each refuse is refused once, before any starts (no N loaded processes).
PROCESS_CASES = {
    "--run-dir is a file": (["--processes", "2", "--steps", "2", "--run-dir", "{tmp}/a.png"], "--run-dir {tmp}/a.png: is a file"),
    "more processes than cores": (["--processes", "{many}", "--steps", "2"], "CPU core(s); use at most"),
    "a batch that does not split": (["--processes", "{odd}", "--steps", "2"], "does not split evenly"),
    "a time budget": (["--processes", "2", "--seconds", "30"], "cannot be shared by several processes"),
}


@pytest.mark.parametrize("case", list(PROCESS_CASES))
def test_a_multi_process_run_is_refused_before_its_processes_start(world, tmp_path, monkeypatch, capsys, case):
    from deblur.training import distributed

    if case in ("a batch that does not split", "a time budget") and len(os.sched_getaffinity(0)) < 3:
        monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(8)))  # the check before: the cores
    monkeypatch.setattr(distributed, "launch", lambda *a, **k: pytest.fail("started processes"))
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a.png")
    extra, expected = PROCESS_CASES[case]
    fill = {"tmp": tmp_path, "many": len(os.sched_getaffinity(0)) + 1, "odd": 3}
    code = cli.main(["train", "--model", "deblurnet", "--profile", "tiny", "--data", str(world / "data.tar.gz"),
                     *[a.format(**fill) for a in extra]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and expected.format(**fill) in err, err
