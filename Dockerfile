# rlkit for GPU jobs: CUDA PyTorch + rlkit[launchers] on Ubuntu 24.04, run as a non-root user.
#   docker build -t rlkit .
#   docker run --rm --gpus all -v "$PWD/runs:/runs" rlkit rlkit-train env=atari env.game=pong
# Build arguments: TORCH_VERSION / TORCH_INDEX_URL pick the PyTorch build (its wheels bring their
# own CUDA libraries; the host needs only the NVIDIA driver and the container toolkit), EXTRAS the
# optional dependency sets (e.g. --build-arg EXTRAS=launchers,optuna). See README, "Docker".
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG EXTRAS=launchers

SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Python only: no rendering packages are needed (ALE frames and the bundled ffmpeg of
# imageio-ffmpeg make evaluation videos without a display). Versions are not pinned so that the
# layer picks up Ubuntu's security updates; the base image tag and PyTorch are pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv "$VIRTUAL_ENV" \
    && pip install --upgrade "pip>=23" "setuptools>=77" "wheel>=0.42"

# The pinned CUDA build of PyTorch first: rlkit's `torch>=2.1` then never replaces it.
RUN pip install "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

# Dependency layer: only pyproject.toml is copied, so editing the source reuses this layer.
WORKDIR /opt/rlkit
COPY pyproject.toml ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e for e in os.environ['EXTRAS'].split(',') if e]; \
print('\n'.join(p['dependencies'] + [r for e in extras for r in p['optional-dependencies'][e]]))" \
    > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The source, installed as a regular package (conf/ ships inside it as rlkit.conf).
COPY README.md ./
COPY conf ./conf
COPY rlkit ./rlkit
RUN pip install --no-deps --no-build-isolation . \
    && python -c "import rlkit.conf, hydra_plugins.hydra_joblib_launcher, hydra_plugins.hydra_submitit_launcher"

# A non-root user, rlkit (uid 1000, as the first user of most hosts, so files in mounted output dirs
# are the host user's; any other uid works with `docker run --user`, see the writable dirs below).
RUN (userdel --remove ubuntu 2>/dev/null || true) \
    && useradd --create-home --uid 1000 --shell /bin/bash rlkit \
    && mkdir -p /runs \
    && chown rlkit:rlkit /runs

# Outputs go to /runs (mount a host dir there). wandb is offline unless asked otherwise
# (logger.wandb.mode=online with WANDB_API_KEY); caches and configs live in /tmp, which every
# uid can write, so `docker run --user "$(id -u):$(id -g)"` works too.
ENV MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    WANDB_MODE=offline \
    WANDB_DIR=/runs \
    WANDB_CACHE_DIR=/tmp/wandb-cache \
    WANDB_CONFIG_DIR=/tmp/wandb-config \
    XDG_CACHE_HOME=/tmp/cache \
    SDL_VIDEODRIVER=dummy

USER 1000:1000
WORKDIR /runs
VOLUME ["/runs"]
CMD ["rlkit-train", "--help"]
