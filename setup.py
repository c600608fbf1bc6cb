"""Builds the recorder's C loop (tracebench/tracer/hotloop.c); the rest is in pyproject.toml.

The library is plain C loaded with ctypes (no Python API).  It is optional:
without a C compiler the install still succeeds and the recorder uses its
pure-Python loop (slower; see tracebench/tracer/native.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("tracebench.tracer._hotloop", ["tracebench/tracer/hotloop.c"],
                             extra_compile_args=["-O2"], optional=True)])
