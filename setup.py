"""Builds the optional C libraries; the rest is in pyproject.toml.

* tracebench/tracer/hotloop.c: the recorder's per-stop loop;
* tracebench/parsers/linescan.c: the import fast path's line scanner.

Both are plain C loaded with ctypes (no Python API), and optional: without a
C compiler the install still succeeds and tracebench uses their pure-Python
twins (slower; see tracebench/extensions.py).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("tracebench.tracer._hotloop", ["tracebench/tracer/hotloop.c"],
              extra_compile_args=["-O2"], optional=True),
    Extension("tracebench.parsers._linescan", ["tracebench/parsers/linescan.c"],
              extra_compile_args=["-O2"], optional=True),
])
