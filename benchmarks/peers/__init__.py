"""The peers: name -> adapter module, and which interpreter runs each.

Each peer's adapter runs in its own child interpreter, so peers with clashing
dependencies live in different venvs (see benchmarks/README.md for the setup).
"""

from __future__ import annotations

import importlib
import os

from peers.base import Adapter

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PEERS_PYTHON = os.path.join(PROJECT, ".bench", "venv-peers", "bin", "python")

PEERS: dict[str, str] = {
    "streamq": "peers.streamq_peer",
    "bullmq-node": "peers.bullmq_node",
    "taskiq": "peers.taskiq_peer",
    "saq": "peers.saq_peer",
    "streaq": "peers.streaq_peer",
    "bullmq-py": "peers.bullmq_py",
    "arq": "peers.arq_peer",
}
"""In report order; bullmq-node is the yardstick of every ratio."""

PYTHON_FOR: dict[str, str] = {
    "streamq": os.path.join(PROJECT, ".venv", "bin", "python"),
    "taskiq": os.path.join(PROJECT, ".bench", "venv-taskiq", "bin", "python"),
}
"""The interpreter per peer; every other peer uses PEERS_PYTHON."""


def python_for(name: str) -> str:
    """The interpreter that runs ``name``'s adapter."""
    return PYTHON_FOR.get(name, PEERS_PYTHON)


def load(name: str) -> Adapter:
    """Import ``name``'s adapter module and return its ADAPTER."""
    adapter: Adapter = importlib.import_module(PEERS[name]).ADAPTER
    return adapter
