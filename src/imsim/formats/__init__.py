"""The assignment's file formats, one module per program: latent (the 2-byte latent files
and their scale), search, emd, cluster, classes."""
