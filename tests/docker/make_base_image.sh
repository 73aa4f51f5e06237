#!/usr/bin/env bash
# Makes the base image the Docker tests build on, without a registry: a Debian bookworm root
# file system from the machine's own apt sources, `docker import`ed and tagged with the name a
# Dockerfile's FROM expects. It holds no Python and no vLLM: the tests bind-mount the host's
# Python installation and the environment holding vLLM's CPU build read-only at the same paths,
# so the image only carries the shared libraries those load.
#
#   tests/docker/make_base_image.sh [TAG]     (default vllm/vllm-openai:local-cpu-base)
#
# Idempotent: an image with the same tag and the same package list is kept.
set -euo pipefail
TAG="${1:-vllm/vllm-openai:local-cpu-base}"
# What the interpreter's extension modules, PyTorch and vLLM's CPU kernels load. libnuma1 is the
# one easily missed: vLLM's CPU build loads it at import time.
PACKAGES="ca-certificates libnuma1 libgomp1 libstdc++6 libgcc-s1 libssl3 libffi8 libsqlite3-0 \
libbz2-1.0 liblzma5 zlib1g libreadline8 libncursesw6 libtinfo6 libuuid1 libexpat1 libtirpc3 libcrypt1"
RECIPE="$(echo "bookworm minbase $PACKAGES" | sha256sum | cut -c1-16)"

if [ "$(docker image inspect -f '{{ index .Config.Labels "vllm-eval.base-recipe" }}' "$TAG" 2>/dev/null)" = "$RECIPE" ]; then
    echo "base image $TAG is up to date (recipe $RECIPE)"
    exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install -y mmdebstrap" >&2; exit 1; }
started=$(date +%s)
mmdebstrap --quiet --variant=minbase --include="${PACKAGES// /,}" bookworm - \
    | docker import \
        --change "LABEL vllm-eval.base-recipe=$RECIPE" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        - "$TAG" >/dev/null
echo "base image $TAG made in $(( $(date +%s) - started )) s (recipe $RECIPE)"
