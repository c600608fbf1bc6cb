"""A small program for the demo: files, a child process, a socket pair, threads.

Deterministic and quick, it makes the kinds of calls an allowlist must cover:
it reads its own source, writes a summary to a temporary file, runs `ls` as a
child (fork + execve), talks to itself over a UNIX socket pair and joins a
thread.
"""

import json
import os
import socket
import subprocess
import tempfile
import threading

with open(__file__, encoding="utf-8") as fh:
    words = fh.read().split()

a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
worker = threading.Thread(target=lambda: b.sendall(b"hello from a thread"))
worker.start()
greeting = a.recv(64).decode()
worker.join()

listing = subprocess.run(["ls", os.path.dirname(os.path.abspath(__file__))],
                         capture_output=True, text=True, check=True).stdout.split()

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "summary.json")
    with open(out, "w", encoding="utf-8") as fh:
        json.dump({"words": len(words), "greeting": greeting, "files": listing}, fh)
    with open(out, encoding="utf-8") as fh:
        print(fh.read())
