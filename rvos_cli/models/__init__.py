"""Networks, their checkpoint loaders and their pre/post-processing. No I/O beyond reading weights."""
