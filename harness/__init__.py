"""The development harness: embedded brokers and Redis, the local run, sample traffic, the
benchmarks and child worker processes. No worker imports it."""
