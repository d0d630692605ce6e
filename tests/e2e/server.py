"""The e2e tests drive the same server harness as the benchmarks."""

from bench.serverproc import TOKEN, ServerProcess, free_tcp_port

__all__ = ["TOKEN", "ServerProcess", "free_tcp_port"]
