"""Build the C kernels (the rest of the metadata lives in pyproject.toml)."""
from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "imsim.distances._l1kernel",
            sources=["src/imsim/distances/_l1kernel.c"],
            extra_compile_args=["-O3", "-std=gnu99"],
            # Without a compiler imsim still works: distances fall back to numpy
            # (identical results, slower).
            optional=True,
        )
    ]
)
