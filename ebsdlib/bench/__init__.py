"""Benchmarks: training throughput, streaming classification, the speed of every contender against Hough
indexing, simulation and the library's own overhead. Nothing is re-exported: the command line imports a
benchmark only when asked for one."""
