"""Statistics on the training results: paired comparisons against alpha = 1."""
