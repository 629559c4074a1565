"""Side-by-side benchmarks of hqueue against hyperopt and Optuna.

Run ``python -m benchmarks {suggest_latency,serial_overhead,quality} [--quick]``; see
``benchmarks/README.md``. Nothing here is imported by the hqueue library.
"""
