#!/usr/bin/env bash
# Training runs on a lent GPU, whose Python has JAX with CUDA but no TensorFlow or Keras: Keras and
# the two packages it needs that the machine lacks (namex, optree) travel as wheels, the CIFAR-10
# stand-in as a file, and Keras runs on JAX.
#
#   bash experiments/gpu.sh prepare [DATA]   # here, once: wheels into .whl/, DATA into .gpu_data/
#   bash experiments/gpu.sh run WHAT         # there, from the repository root, through the device
#                                            # tool: carry [".whl", ".gpu_data"], timeout_s 600
#
# WHAT is one of
#   frontier  experiments/frontier.py: writes reports/frontier_gpu.json there; copies it, the run's
#             history and config and the trained weights into $OUT. Commit the report from there.
#   issue13   the runs of issue 13, each the shipped DeblurNet's 19,823 steps of 32 with fresh
#             corruption (numpy, on the CPU): the non-blind twins (experiments/nonblind.py train
#             --variant blind, then film) and the wide-range DeblurNet (experiments/wide_range.py
#             train), into .gpu_runs/; each run folder comes back as a tar in $OUT. Here:
#             mkdir -p runs/gpu && for f in FILES_AT/*.tar; do tar -xf "$f" -C runs/gpu; done, then
#             python experiments/nonblind.py evaluate --runs runs/gpu/nonblind --data PATH and
#             python experiments/wide_range.py evaluate --run-dir runs/gpu/wide_range --data PATH.
#   wide      the wide-range DeblurNet alone: resumes the run folder copied into .gpu_in/deblurnet_wide
#             (carry it too; here: cp -a runs/wide_range/deblurnet_wide .gpu_in/) or starts one, trains
#             it to its 19,823 steps and evaluates it (experiments/wide_range.py evaluate). $OUT gets
#             the run folder as a tar, the record wide_range.json and the figure wide_range_sweep.png.
#
# Environment: STEPS=N shortens every issue13 run (a smoke test); PY (default python3) and
# INSTALL=0 (skip the wheels) let the same script run here, on the CPU, with this venv's Keras.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-python3}"
DATA=.gpu_data/cifar10-jpeg.tar.gz

case "${1:-}" in
prepare)
    data="${2:-../shared/data/cifar10-jpeg.tar.gz}"
    mkdir -p .whl .gpu_data
    # The GPU machine's Python is CPython 3.12 on x86-64 (see /work/.library/device/README.md).
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0
    cp "$data" "$DATA"
    du -sh .whl .gpu_data
    ;;
run)
    if [ "${INSTALL:-1}" != 0 ]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/*.whl
        export PYTHONPATH="/tmp/site:$PWD"
    fi
    export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
    "$PY" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
    case "${2:-}" in
    frontier)
        "$PY" experiments/frontier.py --data "$DATA" --run-dir .gpu_runs/frontier \
            --out reports/frontier_gpu.json --verbose 2
        if [ -n "${OUT:-}" ]; then
            cp reports/frontier_gpu.json .gpu_runs/frontier/history.json .gpu_runs/frontier/config.json "$OUT/"
            # The weights alone (the model with its optimizer state is over the tool's 16 MiB per file).
            "$PY" -c "import sys, keras; keras.models.load_model(sys.argv[1]).save_weights(sys.argv[2])" \
                .gpu_runs/frontier/model.keras "$OUT/frontier.weights.h5"
        fi
        ;;
    issue13)
        steps=(${STEPS:+--steps "$STEPS"})
        for variant in blind film; do
            start=$SECONDS
            "$PY" experiments/nonblind.py train --variant "$variant" --data "$DATA" --runs .gpu_runs/nonblind \
                "${steps[@]}"
            echo "$variant: $((SECONDS - start)) s"
        done
        start=$SECONDS
        "$PY" experiments/wide_range.py train --data "$DATA" --run-dir .gpu_runs/wide_range "${steps[@]}"
        echo "wide range: $((SECONDS - start)) s"
        if [ -n "${OUT:-}" ]; then
            # One file per run folder (the tool brings back files of at most 16 MiB).
            tar -cf "$OUT/nonblind_blind.tar" -C .gpu_runs nonblind/blind
            tar -cf "$OUT/nonblind_film.tar" -C .gpu_runs nonblind/film
            tar -cf "$OUT/wide_range.tar" -C .gpu_runs wide_range
        fi
        ;;
    wide)
        steps=(${STEPS:+--steps "$STEPS"})
        run_dir=.gpu_runs/wide_range/deblurnet_wide
        if [ -d .gpu_in/deblurnet_wide ] && [ ! -d "$run_dir" ]; then
            mkdir -p "$(dirname "$run_dir")" && cp -a .gpu_in/deblurnet_wide "$run_dir"
        fi
        start=$SECONDS
        "$PY" experiments/wide_range.py train --data "$DATA" --run-dir "$run_dir" "${steps[@]}"
        echo "wide range, training: $((SECONDS - start)) s"
        out="${OUT:-.gpu_runs}"
        [ -n "${OUT:-}" ] && tar -cf "$OUT/wide_range.tar" -C .gpu_runs wide_range
        start=$SECONDS
        "$PY" experiments/wide_range.py evaluate --data "$DATA" --run-dir "$run_dir" \
            --out "$out/wide_range.json" --figure "$out/wide_range_sweep.png"
        echo "wide range, evaluation: $((SECONDS - start)) s"
        ;;
    photo)
        steps=(${STEPS:+--steps "$STEPS"})
        root=.gpu_runs/photo
        mkdir -p "$root"
        start=$SECONDS
        "$PY" -c "import sys; from deblur import study; study.load_profile_data(study.get_profile('full'), sys.argv[1])" \
            "$DATA"  # decoded once, into the cache the variants read
        echo "data: $((SECONDS - start)) s"
        variants=${PHOTO_VARIANTS:-$(cd experiments && "$PY" -c "import do_no_harm; print(*do_no_harm.VARIANTS)")}
        for v in $variants; do
            XLA_PYTHON_CLIENT_MEM_FRACTION=0.1 timeout "${TRAIN_TIMEOUT:-450}" "$PY" experiments/do_no_harm.py train \
                --variant "$v" --data "$DATA" --run-dir "$root/$v" --workers 2 "${steps[@]}" >"$root/$v.log" 2>&1 &
        done
        while [ -n "$(jobs -r)" ]; do  # a line a minute: each variant's last epoch line
            sleep 60
            echo "--- $((SECONDS - start)) s"
            for v in $variants; do echo "$v: $(grep -a 'step - loss' "$root/$v.log" | tail -n 1)"; done
        done
        wait || true
        echo "variants: $((SECONDS - start)) s"
        for v in $variants; do
            echo "=== $v"; tail -n 4 "$root/$v.log"
            [ -n "${OUT:-}" ] || continue
            if [ -f "$root/$v/model.keras" ]; then
                tar -cf "$OUT/$v.tar" -C "$root" --exclude='checkpoint-*' "$v"
            else
                tar -cf "$OUT/$v.tar" -C "$root" "$v"
            fi
        done
        [ -n "${OUT:-}" ] && for v in $variants; do echo "=== $v"; cat "$root/$v.log"; done >"$OUT/photo_logs.txt"
        ;;
    *)
        echo "usage: bash experiments/gpu.sh run frontier|issue13|wide|photo" >&2
        exit 2
        ;;
    esac
    ;;
*)
    echo "usage: bash experiments/gpu.sh prepare [DATA] | run frontier|issue13|wide|photo" >&2
    exit 2
    ;;
esac
