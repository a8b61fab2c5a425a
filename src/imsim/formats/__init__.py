"""The assignment's text formats, one module per program: search, emd, cluster."""
