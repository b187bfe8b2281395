"""Benchmark suite for leadgen (`python -m bench`, `make bench`): build, cold start, warm latency,
search, artifacts, and the prototype (torch + flat index) as the reference, side by side.

Kept out of `make test`: it takes minutes and its numbers depend on the machine. Heavy parts run in
child processes so that peak memory (ru_maxrss) and cold start are measured per run, not polluted
by what the runner already imported.
"""
