"""Benchmark: ``deblur restore`` of a camera-size photo: seconds and peak memory (RSS) per model.

    python bench/camera.py

Runs ``python -m deblur restore PHOTO --model M --out DIR --quiet`` in a
fresh process per case and reads that process's peak resident memory
(``ru_maxrss`` from ``os.wait4``), its wall time (start-up, TensorFlow import
and model loading included) and the restore time it prints (the model
already loaded). Cases: the default model of ``deblur restore``
(``pretrained.DEFAULT_MODEL``, its do-no-harm guard included) on a 4000x3000
RGB PNG and on 1024x1024; DeblurNet, the CAE and Win5-RB on 1024x1024 only
(on a slow 2-core CPU, Win5-RB needs about 10 minutes for 12 MP: add
``--all-camera`` to measure every model at camera size). A process that only
imports ``deblur.inference`` (TensorFlow, Keras) gives the memory floor.
The photo is scikit-image's astronaut scaled up (speed does not depend on
content). Cases up to 2 megapixels run 3 times (median seconds, largest peak). Writes one record per case into
``reports/bench_camera.json``.
Targets (issue 12): 4000x3000 with the default model in at most 1.5 GB
peak RSS, and at most 20 s on the AVX-512 CPU type; (issue 25) 1024x1024 in
at most 1.0 s there, where ``--precision auto`` is bfloat16 (``float32`` is
measured beside it on such a CPU).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
REPORT = ROOT / "reports" / "bench_camera.json"
ABOUT = ("Benchmark: deblur restore of camera-size photos, seconds and peak RSS of the command per model, each in "
         "a fresh process. Regenerate with: python bench/camera.py")
TARGET = ("4000x3000 with the default model: at most 1.5 GB peak RSS; at most 20 s on the AVX-512 CPU type; "
          "1024x1024 in at most 1.0 s there (issue 25)")
REPEATS = 3  # runs of each case up to 2 megapixels (median time, largest peak): one run varies by about 0.2 s
BEFORE = "before tiling (untiled, whole image at once): deblurnet on 3000x4000 took 73 s and peaked at 16.7 GB"


def _photo(path, width, height):
    import numpy as np
    from PIL import Image
    from skimage import data

    Image.fromarray(np.asarray(data.astronaut())).resize((width, height), Image.BICUBIC).save(path)


def _run(cmd):
    """Run ``cmd``; return (wall seconds, peak RSS MB, stdout)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{err.read()[-3000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


def _tiles(inference, name, width, height):
    """``{"tile": restore's auto tile for the model, "windows": the windows restore cuts this image into}``."""
    restorer = inference.Restorer(name, precision="float32", batch_size=1)  # restore's own plan, a window a pass
    return {"tile": restorer.tile, "windows": restorer.passes((1, height, width, 3))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all-camera", action="store_true", help="every model at 4000x3000 (slow)")
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)

    from tools import records
    from deblur import machine
    from deblur import inference
    from deblur.pretrained import DEFAULT_MODEL

    # deblur restore's precision "auto" is bfloat16 on a CPU with native bfloat16, float32 elsewhere; "float32"
    # beside it on such a CPU.
    precisions = ["auto", "float32"] if machine.bfloat16_native() else ["auto"]
    cases = [(model, w, h, p) for p in precisions for model, w, h in
             [(DEFAULT_MODEL, 4000, 3000), (DEFAULT_MODEL, 1024, 1024), ("deblurnet", 1024, 1024),
              ("cae", 1024, 1024), ("win5rb", 1024, 1024)]]
    if args.all_camera:
        cases += [("cae", 4000, 3000, "auto"), ("win5rb", 4000, 3000, "auto")]
    cpu = "avx512" if machine.machine_info()["avx512"] else "no-avx512"
    command = records.command_line(argv, prog="python bench/camera.py")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _, floor_mb, _ = _run([sys.executable, "-c", "import deblur.inference"])
        print(f"import deblur.inference (TensorFlow, Keras): peak RSS {floor_mb:.0f} MB", flush=True)
        for model, width, height, precision in cases:
            photo = tmp / f"photo_{width}x{height}.png"
            if not photo.exists():
                _photo(photo, width, height)
            out_dir = tmp / f"out_{model}_{width}x{height}"
            out_dir = out_dir.with_name(f"{out_dir.name}_{precision}")
            load_before = os.getloadavg()[0]  # other work on the machine slows every figure: record it
            runs = []
            for k in range(REPEATS if width * height <= 2e6 else 1):  # a fresh process and output folder each
                runs.append(_run([sys.executable, "-m", "deblur", "restore", str(photo), "--model", model, "--out",
                                  str(out_dir / f"run{k}"), "--quiet", "--precision", precision]))
            restore_runs = [float(re.search(r"restored in ([0-9.]+) s", out).group(1)) for _, _, out in runs]
            restore_s, seconds = statistics.median(restore_runs), statistics.median(r[0] for r in runs)
            peak_mb = max(r[1] for r in runs)
            key = f"{model}/{width}x{height}/{machine.resolve_precision(precision)}/{cpu}"
            results[key] = {"model": model, "default_model": model == DEFAULT_MODEL, "width": width, "height": height, "megapixels": width * height / 1e6,
                            "precision": machine.resolve_precision(precision), "cpu_type": cpu,
                            "command_seconds": seconds, "restore_seconds": restore_s, "peak_rss_mb": peak_mb,
                            "restore_seconds_runs": restore_runs,
                            **_tiles(inference, model, width, height),
                            "import_only_peak_rss_mb": floor_mb, "target": TARGET, "before": BEFORE,
                            "load_average": round(max(load_before, os.getloadavg()[0]), 2),
                            "restore_command": "python -m deblur restore PHOTO --model "
                                               f"{model} --out DIR --quiet --precision {precision}"}
            print(f"{key:38s} command {seconds:6.1f} s, restore {restore_s:6.1f} s, peak RSS {peak_mb:6.0f} MB",
                  flush=True)
    records.update_report(args.out, results, about=ABOUT, command=command)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
