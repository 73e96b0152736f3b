# The training image of {{ cookiecutter.project_name }} (TensorFlow {{ cookiecutter.tf_version }}).
#
#   docker build -t {{ cookiecutter.project_slug }} .
#   docker run --gpus all -v "$PWD/runs:/runs" {{ cookiecutter.project_slug }} trainer.max_steps=5000
#
# BASE_IMAGE: CUDA {{ cookiecutter._tensorflow[cookiecutter.tf_version].cuda }}.
# TF_EXTRA: the project extra that brings TensorFlow: gpu, or cpu for a CPU-only image.
ARG BASE_IMAGE={{ cookiecutter._tensorflow[cookiecutter.tf_version].docker_base }}
FROM ${BASE_IMAGE}

# Python with venv, unless the base already has it. Package versions are the base
# distribution's own (they differ per base), so they are not pinned here.
# hadolint ignore=DL3008
RUN if ! python3 -m venv --help >/dev/null 2>&1; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv \
        && rm -rf /var/lib/apt/lists/*; \
    fi

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1
RUN python3 -m venv "$VIRTUAL_ENV" \
    && useradd --create-home --uid 1000 trainer \
    && mkdir /runs \
    && chown trainer /runs

WORKDIR /opt/{{ cookiecutter.project_slug }}
# Dependencies first, from pyproject.toml and the library it names (estimator-inmemory/,
# which changes only with the template), with an empty package standing in for the code,
# so that editing code or configs does not reinstall TensorFlow. The versions are
# constraints.txt's: the ones the template's tests ran with, for gpu and cpu alike.
ARG TF_EXTRA=gpu
COPY pyproject.toml README.md constraints.txt ./
COPY estimator-inmemory estimator-inmemory
# DL3013 (pin pip versions): constraints.txt pins every version.
# hadolint ignore=DL3013
RUN mkdir -p conf src/{{ cookiecutter.package_name }} \
    && touch src/{{ cookiecutter.package_name }}/__init__.py \
    && pip install --constraint constraints.txt ".[${TF_EXTRA}]"
COPY conf conf
COPY src src
RUN pip install --no-deps --force-reinstall .

# Hydra writes each run's folder (its model_dir: checkpoints, eval summaries, the
# SavedModel) under the working directory: mount /runs to keep them.
USER 1000
WORKDIR /runs
VOLUME ["/runs"]
ENTRYPOINT ["{{ cookiecutter.project_slug }}-train"]
