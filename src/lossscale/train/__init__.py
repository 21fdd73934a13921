"""Training: stacked replicas of one cell, and the cell's tidy result table."""
