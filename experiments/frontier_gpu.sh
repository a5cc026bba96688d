#!/usr/bin/env bash
# The frontier run (experiments/frontier.py) on a lent GPU, whose Python has JAX with CUDA but no
# TensorFlow or Keras: Keras and the two packages it needs that the machine lacks (namex, optree)
# travel as wheels, the CIFAR-10 stand-in as a file, and Keras runs on JAX.
#
#   bash experiments/frontier_gpu.sh prepare [DATA]   # here, once: wheels into .whl/, DATA into .gpu_data/
#   bash experiments/frontier_gpu.sh run              # there, from the repository root, through the device
#                                                     # tool: carry [".whl", ".gpu_data"], timeout_s 600
#
# `run` writes reports/frontier_gpu.json there and copies it, the run's history and the trained
# weights into $OUT (the device tool brings $OUT back); commit the report from there.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    data="${2:-../shared/data/cifar10-jpeg.tar.gz}"
    mkdir -p .whl .gpu_data
    # The GPU machine's Python is CPython 3.12 on x86-64 (see /work/.library/device/README.md).
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0
    cp "$data" .gpu_data/cifar10-jpeg.tar.gz
    du -sh .whl .gpu_data
    ;;
run)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
    python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
    python3 experiments/frontier.py --data .gpu_data/cifar10-jpeg.tar.gz --run-dir .gpu_runs/frontier \
        --out reports/frontier_gpu.json --verbose 2
    if [ -n "${OUT:-}" ]; then
        cp reports/frontier_gpu.json .gpu_runs/frontier/history.json .gpu_runs/frontier/config.json "$OUT/"
        # The weights alone (the model with its optimizer state is over the tool's 16 MiB per file).
        python3 -c "import sys, keras; keras.models.load_model(sys.argv[1]).save_weights(sys.argv[2])" \
            .gpu_runs/frontier/model.keras "$OUT/frontier.weights.h5"
    fi
    ;;
*)
    echo "usage: bash experiments/frontier_gpu.sh prepare [DATA] | run" >&2
    exit 2
    ;;
esac
