"""tracebench: develop Linux seccomp allowlists from what a program really does."""

__version__ = "0.1.0"
