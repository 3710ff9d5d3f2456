"""`kaobot bench`: latency, throughput and search benchmarks that print and write docs/benchmarks.md."""
