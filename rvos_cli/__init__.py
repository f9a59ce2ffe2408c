"""rvos: command-line video object segmentation."""

__version__ = "0.1.0"
