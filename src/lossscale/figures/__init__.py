"""Figures: one module per figure, one shared theme, deterministic PDF and PNG files."""
