"""Benchmarks and the load test: classifier and pipeline speed, detectors, alignment, many
students, and the real-face scenes they share. Figures they print go to the README."""
