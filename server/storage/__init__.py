"""Everything that speaks SQL. Handlers call the stores here; no SQL lives anywhere else."""
