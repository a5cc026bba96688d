"""Make an executed notebook fit to commit: keep figures and tables, drop progress bars and log noise.

    papermill CIFAR_10_Image_Deblurring.ipynb runs/executed.ipynb   # run it (quick profile)
    python tools/clean_notebook.py runs/executed.ipynb --out CIFAR_10_Image_Deblurring.ipynb

Keras's progress bars and TensorFlow's start-up log end up in a notebook's
stream outputs when it runs headless; on a code host they are megabytes of
noise. This keeps every figure, table and printed result, and removes:

- stderr streams (framework logs, warnings);
- stdout lines that are progress bars (Keras's ``12/34 ━━━━...`` lines,
  ``Epoch 3/20`` headers) or framework log lines;
- papermill's per-cell timing metadata;
- the notebook's saved widget state when no output shows a widget (the
  state of widgets an earlier run drew, e.g. old progress bars, which
  papermill carries over from its input notebook).

It refuses to write a notebook that breaks the limits
``tests/test_notebook.py`` enforces (each figure at most 150 KB, the file
under 1 MB) and says which cell is too large. ``--out`` may not be the
executed notebook itself: the input is never overwritten.
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deblur.files import atomic_write_text  # noqa: E402

MAX_FIGURE_BYTES = 150_000
MAX_NOTEBOOK_BYTES = 1_000_000
#: Lines of stdout that are progress or framework noise, not results.
NOISE = re.compile(
    r"(━|\x08|^\s*\d+/\d+\s|^Epoch \d+/\d+|cuda|absl::|oneDNN|^[IWE]\d{4} |tensorflow/core|XLA|^WARNING:(tensorflow|absl))"
)


def clean_outputs(outputs):
    """The outputs of one cell without stderr and without noisy stdout lines."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream":
            if output.get("name") == "stderr":
                continue
            lines = [line for line in output.get("text", "").splitlines(keepends=True) if not NOISE.search(line)]
            if not "".join(lines).strip():
                continue
            output["text"] = "".join(lines)
        kept.append(output)
    return kept


def figure_sizes(notebook):
    """(cell index, bytes) of every image output."""
    sizes = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            for mime, payload in output.get("data", {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml":
                    sizes.append((index, len(base64.b64decode(payload))))
    return sizes


def clean(notebook):
    """Clean every code cell in place; return the notebook."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = clean_outputs(cell.get("outputs", []))
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
    notebook.metadata.pop("papermill", None)
    if not any("application/vnd.jupyter.widget-view+json" in output.get("data", {})
               for cell in notebook.cells for output in cell.get("outputs", [])):
        notebook.metadata.pop("widgets", None)
    return notebook


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", help="an executed notebook")
    parser.add_argument("--out", required=True, help="where to write the cleaned notebook")
    args = parser.parse_args(argv)
    if Path(args.out).resolve() == Path(args.notebook).resolve():
        print(f"error: --out {args.out} is the input notebook; write the cleaned copy elsewhere. "
              "Nothing was written.", file=sys.stderr)
        return 2
    notebook = clean(nbformat.read(args.notebook, as_version=4))
    too_big = [(i, n) for i, n in figure_sizes(notebook) if n > MAX_FIGURE_BYTES]
    if too_big:
        print(f"error: figures over {MAX_FIGURE_BYTES:,} bytes in cells {too_big}; make them smaller at the "
              "source (figure size, crop) and run again. Nothing was written.", file=sys.stderr)
        return 2
    text = nbformat.writes(notebook) + "\n"
    if len(text.encode("utf-8")) > MAX_NOTEBOOK_BYTES:
        print(f"error: the cleaned notebook is {len(text.encode()):,} bytes (limit {MAX_NOTEBOOK_BYTES:,}). "
              "Nothing was written.", file=sys.stderr)
        return 2
    atomic_write_text(args.out, text)
    print(f"wrote {args.out} ({len(text.encode()):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
