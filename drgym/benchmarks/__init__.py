"""drgym.benchmarks: performance benchmarks (run as scripts: `python -m drgym.benchmarks.perf_search`)."""
