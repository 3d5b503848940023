"""The peer benchmark's harness: scenarios, worker processes, Redis probes, the report.

Entry point: ``benchmarks/run.py``. Peers live in ``benchmarks/peers/``.
"""
