"""Hearth's benchmarks: each prints its figures next to a baseline measured in the same run."""
