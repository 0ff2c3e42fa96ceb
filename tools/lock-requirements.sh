#!/usr/bin/env bash
# Regenerate the hash-pinned installs of requirements/ for the runners (Linux x86_64, Python 3.11):
#   bot.txt  the jobs that only talk to GitHub (no TensorFlow): from requirements/bot.in
#   gpu.txt  the GPU runner's evaluation environment: pyproject.toml's dependencies + the gpu extra
# Needs uv (pip install uv). tests/test_light_install.py checks both against pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
compile=(uv pip compile --quiet --no-header --generate-hashes --python-version 3.11
         --python-platform x86_64-manylinux_2_28 --upgrade)
"${compile[@]}" requirements/bot.in -o requirements/bot.txt
"${compile[@]}" pyproject.toml requirements/gpu.in --extra gpu -o requirements/gpu.txt
echo "wrote requirements/bot.txt and requirements/gpu.txt"
