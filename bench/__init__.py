"""Benchmarks that print ratios measured side by side (python -m bench.bench_policies)."""
