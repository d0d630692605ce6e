"""Runnable helpers for tests and benchmarks (device simulators)."""
