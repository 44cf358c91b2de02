"""Re-export: the structural model copy lives in the IR (ir/_clone.py); exporters use it too."""

from ..ir._clone import clone_graph, clone_model

__all__ = ["clone_graph", "clone_model"]
