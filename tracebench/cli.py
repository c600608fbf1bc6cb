"""The command line: one thin function per command.

Only this module opens the user's files, prints and exits.  Heavy libraries
(pandas, pyseccomp, python-ptrace) are imported inside the commands so that
``tracebench --help`` stays fast.

Exit codes: 0 success; 1 ``diff`` found a used syscall the policy denies;
2 an error (bad input, unknown run, unreadable file); ``record`` and ``run``
exit with the traced program's own status (128+N when killed by signal N).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import IO, TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from tracebench import __version__
from tracebench.errors import TracebenchError

if TYPE_CHECKING:
    from tracebench.profile import Profile
    from tracebench.store import Store

EXIT_ERROR = 2
F = TypeVar("F", bound=Callable[..., Any])
SORT_CHOICES = ("time", "calls", "errors", "name", "nothing")
OUTPUT_CHOICES = ("table", "json", "csv")


def fail(message: str) -> NoReturn:
    """Print a one-line error and exit 2."""
    click.echo(f"tracebench: {message}", err=True)
    sys.exit(EXIT_ERROR)


def reports_errors(func: F) -> F:
    """Turn tracebench and OS errors into one-line messages with exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TracebenchError as exc:
            fail(str(exc))
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}")
        except UnicodeDecodeError as exc:
            fail(f"not a text file ({exc.reason} at byte {exc.start})")

    return wrapper  # type: ignore[return-value]


def _store(ctx: click.Context) -> Store:
    from tracebench.store import Store, default_dir

    return Store(default_dir(ctx.obj.get("store")))


def _read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def _load_profiles(ctx: click.Context, refs: Sequence[str]) -> list[Profile]:
    """Profiles named by run id, label, JSON file path, or (none given) the latest run."""
    from tracebench.profile import Profile

    store = _store(ctx)
    out = []
    for ref in refs or [None]:  # type: ignore[list-item]
        if ref is not None and (os.path.sep in ref or ref.endswith(".json")) \
                and os.path.exists(ref):
            out.append(Profile.from_json(_read_text(ref), path=ref))
        else:
            out.append(store.load(ref)[1])
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracebench")
@click.option("--store", "store", metavar="DIR", envvar="TRACEBENCH_STORE",
              help="Run store directory (default ./.tracebench; env TRACEBENCH_STORE).")
@click.pass_context
def main(ctx: click.Context, store: str | None) -> None:
    """Develop seccomp allowlists from what a program really does.

    \b
    Typical loop:
      tracebench record -- ./app args     # trace it, store the run, print the table
      tracebench diff docker-default      # what would break / what is never used
      tracebench emit --format oci > app.json
    """
    ctx.ensure_object(dict)
    ctx.obj["store"] = store


# -- runs and profiles -------------------------------------------------------


@main.command()
@click.option("--format", "fmt", type=click.Choice(OUTPUT_CHOICES), default="table",
              show_default=True)
@click.pass_context
@reports_errors
def runs(ctx: click.Context, fmt: str) -> None:
    """List the stored runs."""
    from dataclasses import asdict

    from tracebench import render

    infos = _store(ctx).runs()
    if fmt == "table":
        if not infos:
            click.echo("no runs stored yet (tracebench record -- CMD, or tracebench import FILE)")
            return
        rows = [(r.id, r.label, r.created, r.source, r.syscalls, r.calls,
                 "" if r.exit_status is None else r.exit_status, r.command) for r in infos]
        click.echo(render.grid(rows, ["id", "label", "created", "source", "syscalls", "calls",
                                      "exit", "command"]), nl=False)
    elif fmt == "json":
        import json

        click.echo(json.dumps([asdict(r) for r in infos], indent=2))
    else:
        click.echo(render.to_csv([asdict(r) for r in infos]), nl=False)


@main.command()
@click.argument("profile", required=False)
@click.option("-S", "--sort", type=click.Choice(SORT_CHOICES), default="time", show_default=True,
              help="Sort rows as strace -S does.")
@click.option("--per-process", is_flag=True, help="One table per (pid, executable).")
@click.option("--format", "fmt", type=click.Choice(OUTPUT_CHOICES), default="table",
              show_default=True)
@click.pass_context
@reports_errors
def table(ctx: click.Context, profile: str | None, sort: str, per_process: bool,
          fmt: str) -> None:
    """Print a run as an strace -c table (PROFILE: run id, label, JSON file; default latest)."""
    from tracebench import render

    prof = _load_profiles(ctx, [profile] if profile else [])[0]
    click.echo(render.summary(prof, fmt, sort=sort, per_process=per_process), nl=False)


@main.command()
@click.argument("profile", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
@click.pass_context
@reports_errors
def export(ctx: click.Context, profile: str | None, output: str | None) -> None:
    """Write a run as a tracebench profile JSON file."""
    text = _load_profiles(ctx, [profile] if profile else [])[0].to_json()
    _write_output(output, text)


@main.command()
@click.argument("profiles", nargs=-1, required=True)
@click.option("--label", required=True, help="Label of the merged run.")
@click.pass_context
@reports_errors
def merge(ctx: click.Context, profiles: tuple[str, ...], label: str) -> None:
    """Store the union of several runs (calls summed; syscalls seen in only some flagged)."""
    from tracebench import profile as profile_mod

    merged = profile_mod.merge(_load_profiles(ctx, profiles), label=label)
    info = _store(ctx).add(merged, label)
    click.echo(f"stored run {info.id} ({label}): {info.syscalls} syscalls, {info.calls} calls, "
               f"{len(merged.partial)} seen in only some runs", err=True)


# -- record ------------------------------------------------------------------


@main.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--mode", type=click.Choice(("full", "fast")), default="full", show_default=True,
              help="full: calls, errors and time like strace -c -f; fast: calls only, one "
                   "seccomp stop per call.")
@click.option("-p", "--pid", type=int, help="Attach to this running process and its threads; "
              "Ctrl-C detaches and stores what was seen.")
@click.option("--label", help="Label of the stored run (default: the program's name).")
@click.option("-S", "--sort", type=click.Choice(SORT_CHOICES), default="time", show_default=True)
@click.option("-q", "--quiet", is_flag=True, help="Do not print the table.")
@click.pass_context
@reports_errors
def record(ctx: click.Context, command: tuple[str, ...], mode: str, pid: int | None,
           label: str | None, sort: str, quiet: bool) -> None:
    """Run COMMAND under ptrace (or attach with -p), store the run, print the table.

    \b
      tracebench record -- ./app --flag arg
      tracebench record -p 1234
    The program keeps its stdin/stdout/stderr; the table goes to stderr.
    Ctrl-C reaches a started program as it would without tracebench, and the
    run is still stored.  Exits with the program's status (128+N if killed
    by signal N).
    """
    from tracebench import render, tracer

    if command and command[0] == "--":
        command = command[1:]
    if not command and pid is None:
        fail("record: give a command (tracebench record -- CMD ARGS) or --pid PID")
    if command and pid is not None:
        fail("record: give a command or --pid, not both")
    result = tracer.record(list(command) if command else None, mode=mode, pid=pid)
    name = label or (os.path.basename(command[0]) if command else f"pid{pid}")
    info = _store(ctx).add(result.profile, name, exit_status=result.exit_status)
    if not quiet:
        click.echo(render.summary_table(result.profile, sort=sort), nl=False, err=True)
    what = "detached from" if result.detached else "exit status"
    click.echo(f"stored run {info.id} ({name}): {info.syscalls} syscalls, {info.calls} calls; "
               f"{what} {result.pid if result.detached else result.exit_status}", err=True)
    _freeze_heap_at_exit()
    sys.exit(result.exit_status)


def _freeze_heap_at_exit() -> None:
    """Have the interpreter's exit skip the cyclic collector's passes over the whole heap.

    At exit, after the atexit functions, CPython runs full collections while
    it tears the modules down: 10-20 ms of ``record``'s end-to-end time with
    the tracer, python-ptrace, click and libseccomp loaded (measured: 26-35
    ms from the last write to the exit, 7 ms with the heap frozen).  They
    would only free memory the process is about to give back.  Frozen
    objects are still freed when their last reference goes; only a reference
    cycle still alive at exit is left to the kernel.
    """
    import atexit
    import gc

    atexit.unregister(gc.freeze)  # once, however often record runs in one process
    atexit.register(gc.freeze)


# -- import ------------------------------------------------------------------


@contextmanager
def _opened(paths: Sequence[str]) -> Iterator[list[tuple[str, IO[str]]]]:
    """Open the files to import; standard input ('-') is spooled to a temporary file."""
    import shutil
    import tempfile

    with ExitStack() as stack:
        out: list[tuple[str, IO[str]]] = []
        for path in paths:
            if path == "-":
                spool = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
                shutil.copyfileobj(sys.stdin, spool)
                spool.seek(0)
                out.append(("<stdin>", spool))
            else:
                fh = stack.enter_context(open(path, encoding="utf-8", errors="strict"))
                out.append((path, fh))
        yield out


def _importer_names() -> list[str]:
    from tracebench.parsers import IMPORTERS

    return sorted(IMPORTERS)


@main.command(name="import")
@click.argument("files", nargs=-1, required=True)
@click.option("--format", "fmt", metavar="FORMAT",
              help="Force the input format (default: detected from content): "
                   "strace-summary, strace-log, audit.")
@click.option("--lenient", is_flag=True,
              help="Skip malformed lines (and say how many) instead of failing.")
@click.option("--label", help="Label of the stored run (default: the first file's name).")
@click.option("--args", "read_args", is_flag=True,
              help="Also keep the argument values an strace -f log prints (x86_64 calls), "
                   "so diff can judge argument-conditioned rules; reads every line exactly "
                   "(slower).")
@click.pass_context
@reports_errors
def import_(ctx: click.Context, files: tuple[str, ...], fmt: str | None, lenient: bool,
            label: str | None, read_args: bool) -> None:
    """Import strace -c tables, strace -f/-ff logs or audit records as one run.

    Several FILES form one run (the -ff files PREFIX.PID of one strace run).
    '-' reads standard input.
    """
    from tracebench import parsers, render

    if fmt is not None and fmt not in parsers.IMPORTERS:
        fail(f"--format: unknown input format {fmt!r} (choose from "
             f"{', '.join(_importer_names())})")
    with _opened(files) as sources:
        if fmt is None:
            head = sources[0][1].read(65536)
            sources[0][1].seek(0)
            importer = parsers.detect(head, sources[0][0])
        else:
            importer = parsers.IMPORTERS[fmt]
        result = importer.parse(sources, lenient=lenient, args=read_args)
    name = label or os.path.basename(files[0] if files[0] != "-" else "stdin")
    info = _store(ctx).add(result.profile, name)
    if result.skipped:
        examples = "; ".join(result.skipped_examples)
        click.echo(f"tracebench: skipped {result.skipped} malformed line(s) (--lenient): "
                   f"{examples}", err=True)
    click.echo(render.summary_table(result.profile), nl=False, err=True)
    click.echo(f"stored run {info.id} ({name}) from {importer.name}: {info.syscalls} syscalls, "
               f"{info.calls} calls", err=True)


def _write_output(output: str | None, text: str) -> None:
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)


# -- policies: diff, emit, check -----------------------------------------------


def _load_policy(ref: str, fmt: str | None) -> Any:
    """A Policy from a file or a shipped policy's short name (docker-default)."""
    from tracebench import shipped
    from tracebench.policy import formats

    found = shipped.find(ref)
    path = str(found) if found is not None else ref
    # A selector after '#' names one policy inside a multi-policy file
    # (a SeccompProfile name in a YAML stream, a Firecracker thread).
    filename = path.split("#", 1)[0] if "#" in path and not os.path.exists(path) else path
    text = _read_text(filename)
    if fmt is not None:
        if fmt not in formats.FORMATS:
            fail(f"--policy-format: unknown format {fmt!r} (choose from "
                 f"{', '.join(formats.readable())})")
        chosen = formats.FORMATS[fmt]
    else:
        chosen = formats.detect(text, filename)
    if chosen.read is None:
        fail(f"{path}: tracebench writes {chosen.name} but cannot read it")
    return chosen.read(text, path)


def _context(arch: str | None, cap_add: Sequence[str], cap_drop: Sequence[str],
             kernel: str | None, runtime: str | None = None) -> Any:
    from tracebench import policy, syscalls

    return policy.context(arch=syscalls.arch_of(arch) if arch else syscalls.native_arch(),
                          cap_add=cap_add, cap_drop=cap_drop, kernel=kernel, runtime=runtime)


def policy_options(func: F) -> F:
    """Options shared by the commands that judge a policy."""
    options = [
        click.option("--policy-format", metavar="FORMAT",
                     help="Format of the policy file (default: detected from content)."),
        click.option("--runtime-arch", metavar="ARCH",
                     help="Architecture the policy is judged for (default: this machine's)."),
        click.option("--cap-add", multiple=True, metavar="CAP",
                     help="Capability held besides Docker's default set (as docker run "
                          "--cap-add; ALL for every one). Judges includes/excludes.caps."),
        click.option("--cap-drop", multiple=True, metavar="CAP",
                     help="Capability not held (as docker run --cap-drop; ALL for none)."),
        click.option("--kernel", metavar="X.Y",
                     help="Kernel version for minKernel rules (default: the running one)."),
        click.option("--ignore-unknown", is_flag=True,
                     help="Leave out names libseccomp does not know even where that makes "
                          "the filter more permissive (fail-open; off by default)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@main.command(name="diff")
@click.argument("policy")
@click.argument("profiles", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(("table", "json", "markdown")),
              default="table", show_default=True)
@click.option("--runtime", metavar="RUNTIME",
              help="The container runtime that loads the policy, where it adds to the "
                   "filter: runc (ENOSYS above the highest syscall number the policy names).")
@policy_options
@click.pass_context
@reports_errors
def diff_(ctx: click.Context, policy: str, profiles: tuple[str, ...], fmt: str,
          runtime: str | None, policy_format: str | None, runtime_arch: str | None,
          cap_add: tuple[str, ...], cap_drop: tuple[str, ...], kernel: str | None,
          ignore_unknown: bool) -> None:
    """Compare runs (default: the latest) with POLICY (a file or a shipped name).

    Exit status 0 when nothing used is denied, 1 when something is, 2 on error.
    """
    from tracebench import render
    from tracebench.diff import diff
    from tracebench.policy.model import RUNTIMES
    from tracebench.profile import merge

    if runtime is not None and runtime not in RUNTIMES:
        fail(f"--runtime: unknown runtime {runtime!r} (known: {', '.join(RUNTIMES)})")
    pol = _load_policy(policy, policy_format)
    runs = _load_profiles(ctx, profiles)
    prof = runs[0] if len(runs) == 1 else merge(runs)
    result = diff(prof, pol, _context(runtime_arch, cap_add, cap_drop, kernel, runtime),
                  ignore_unknown=ignore_unknown)
    for w in pol.warnings:
        click.echo(f"tracebench: warning: {w}", err=True)
    click.echo(render.diff_report(result, fmt), nl=False)
    sys.exit(1 if result.breaks else 0)


def _read_names(path: str) -> list[str]:
    from tracebench.policy.formats import FORMATS

    listed = FORMATS["plain"].read
    assert listed is not None
    return sorted(listed(_read_text(path), path).names())


def _base_policy(ref: str, fmt: str) -> Any:
    """The --base policy as this machine would load it; gates judged unless OCI keeps them."""
    from tracebench import syscalls
    from tracebench.policy import context

    native = syscalls.native_arch()
    pol = _load_policy(ref, None).for_machine(native)
    # Only OCI and SPO files can carry Docker's includes/excludes gates.
    return pol if fmt in ("oci", "spo") else pol.resolve(context(native))


@main.command()
@click.argument("profiles", nargs=-1)
@click.option("--format", "fmt", required=True, metavar="FORMAT",
              help="Output format (oci, spo, beats, systemd, minijail, plain, c, python, go).")
@click.option("--default", "default", metavar="ACTION",
              help="Action for every other syscall: errno(N), kill_process, kill_thread, "
                   "trap, log, trace(N)... (default errno(1), EPERM; with --base, the base's).")
@click.option("--arch", "arches", multiple=True, metavar="ARCH",
              help="Target architecture (repeat for several; default: the run's and this "
                   "machine's).")
@click.option("--always-allow", type=click.Path(dir_okay=False), metavar="FILE",
              help="Names to allow even if unused (one per line, # comments).")
@click.option("--never-allow", type=click.Path(dir_okay=False), metavar="FILE",
              help="Names never to allow, even if used.")
@click.option("--base", metavar="POLICY", help="Start from this policy (a file or shipped name).")
@click.option("--pin-args", "pins", multiple=True, metavar="SYSCALL[:N,M]",
              help="Allow SYSCALL only with the argument values recorded (e.g. socket, "
                   "clone, ioctl:1).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to FILE.")
@click.pass_context
@reports_errors
def emit(ctx: click.Context, profiles: tuple[str, ...], fmt: str, default: str | None,
         arches: tuple[str, ...], always_allow: str | None, never_allow: str | None,
         base: str | None, pins: tuple[str, ...], output: str | None) -> None:
    """Write an allowlist of what the runs (default: the latest) used."""
    from tracebench import emit as emit_mod
    from tracebench.policy.formats import FORMATS, writable
    from tracebench.policy.model import Action

    writer = FORMATS[fmt].write if fmt in FORMATS else None
    if writer is None:
        fail(f"--format: cannot write {fmt!r} (choose from {', '.join(writable())})")
    result = emit_mod.emit(
        _load_profiles(ctx, profiles),
        default=Action.parse(default) if default else None,
        arches=arches,
        always_allow=_read_names(always_allow) if always_allow else (),
        never_allow=_read_names(never_allow) if never_allow else (),
        base=_base_policy(base, fmt) if base else None,
        pin_args=pins,
        by_number=FORMATS[fmt].numbers,
    )
    if FORMATS[fmt].container and base is None:
        click.echo("tracebench: note: the container runtime makes calls of its own after "
                   "loading the filter; without them it cannot start the container (add "
                   "--base runc-base, or crun-base for Podman)", err=True)
    if result.unnamed:
        click.echo(f"tracebench: {fmt} names syscalls, and these numbers have no name: "
                   f"{', '.join(result.unnamed)}; left out (they get the default action)",
                   err=True)
    for arch, names in sorted(result.missing.items()):
        click.echo(f"tracebench: not a syscall on {arch}, left out there: {', '.join(names)}",
                   err=True)
    if result.removed:
        click.echo(f"tracebench: used but left out (--never-allow): {', '.join(result.removed)}",
                   err=True)
    _write_output(output, writer(result.policy))


@main.command()
@click.argument("policy")
@click.option("--pfc", is_flag=True, help="Print libseccomp's pseudo filter code too.")
@policy_options
@reports_errors
def check(policy: str, pfc: bool, policy_format: str | None, runtime_arch: str | None,
          cap_add: tuple[str, ...], cap_drop: tuple[str, ...], kernel: str | None,
          ignore_unknown: bool) -> None:
    """Parse POLICY, resolve its names, compile it with libseccomp and report its size."""
    from tracebench import render, sandbox

    ctx = _context(runtime_arch, cap_add, cap_drop, kernel)
    pol = _load_policy(policy, policy_format).for_machine(ctx.arch)
    result = sandbox.check(pol, ctx, ignore_unknown=ignore_unknown)
    click.echo(render.check_report(result, pfc), nl=False)
