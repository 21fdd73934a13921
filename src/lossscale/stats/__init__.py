"""Statistics on the training results: paired comparisons against alpha = 1
(``paired``), the eps knee (``knee``) and round-off against effect (``roundoff``)."""
