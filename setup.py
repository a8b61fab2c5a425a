"""Build the C kernels (the rest of the metadata lives in pyproject.toml)."""
from setuptools import Extension, setup

# Without a compiler imsim still works: distances fall back to numpy and the HNSW
# index lets FAISS build its graph (identical distances; slower). Both kernels pick
# AVX-512BW, AVX2 or portable C at import from what the CPU reports.
setup(
    ext_modules=[
        Extension(
            "imsim.distances._l1kernel",
            sources=["src/imsim/distances/_l1kernel.c"],
            extra_compile_args=["-O3", "-std=gnu99"],
            optional=True,
        ),
        Extension(
            "imsim.search._hnswbuild",
            sources=["src/imsim/search/_hnswbuild.c"],
            extra_compile_args=["-O3", "-std=gnu99"],
            optional=True,
        ),
    ]
)
