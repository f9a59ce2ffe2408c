"""Glue between video and models: windows, batching, device and precision."""
