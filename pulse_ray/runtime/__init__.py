"""The Ray-facing side of Pulse (with ``deployments/``, the only code importing Ray)."""
