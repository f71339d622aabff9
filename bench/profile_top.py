"""Top functions of a py-spy profile, by self and by cumulative samples.

Reads py-spy's ``--format raw`` output (collapsed stacks: ``frame;frame;...;leaf COUNT``,
each frame ``function (file:line)``; with ``--threads`` the first frame names the thread),
folds the line numbers away so a function counts once whatever line it was on, and prints
the samples per thread and two tables: self time (the function was the leaf) and cumulative
time (the function was anywhere on the stack, counted once per stack).

    python bench/profile_top.py profile.txt [--top 15]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

#: frames every stack goes through (event loop, HTTP server, thread start): left out of the
#: cumulative table, where they would only fill the top rows with ~100%
PLUMBING = re.compile(
    r"\((asyncio/|aiohttp/web_(app|protocol|middlewares)|threading\.py|concurrent/futures/"
    r"|collector/cli/main\.py|session-collector\))|^<module> "
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _function(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if m is None:
        return frame.strip()
    return f"{m['func']} ({m['file']})"


def summarise(
    text: str, only_thread: str | None = None
) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Total samples, and samples per thread, self per function, cumulative per function
    (of the threads whose kind is ``only_thread``, when given)."""
    total = 0
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        parts = [f for f in stack.split(";") if f]
        thread = "(all)"
        if parts and parts[0].startswith("thread ("):
            thread = parts.pop(0).partition(": ")[2] or parts[0]
        frames = [_function(f) for f in parts]
        if not frames or (only_thread and _thread_kind(thread) != only_thread):
            continue
        total += count
        threads[_thread_kind(thread)] += count
        own[frames[-1]] += count
        for name in set(frames):
            cumulative[name] += count
    return total, threads, own, cumulative


def _thread_kind(name: str) -> str:
    """``asyncio_3`` -> ``asyncio_*``: pool threads come and go, their kind matters."""
    return re.sub(r"_\d+$", "_*", name)


def report(path: Path, top: int = 15, only_thread: str | None = None) -> str:
    total, threads, own, cumulative = summarise(path.read_text(), only_thread)
    if not total:
        return f"{path}: no samples\n"
    lines = [f"{path}: {total} samples (threads with CPU activity only)", ""]
    lines.append(
        "samples by thread: "
        + ", ".join(f"{name} {100.0 * n / total:.1f}%" for name, n in threads.most_common())
    )
    lines.append("")
    for title, counter in (("self", own), ("cumulative", cumulative)):
        rows = counter.most_common()
        note = ""
        if title == "cumulative":
            note = " (event loop, HTTP server and thread frames left out)"
            rows = [(n, c) for n, c in rows if not PLUMBING.search(n)]
        lines.append(f"top {top} by {title} samples{note}:")
        lines.append(f"{'%':>6} {'samples':>8}  function")
        for name, count in rows[:top]:
            lines.append(f"{100.0 * count / total:6.1f} {count:8d}  {name}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("profile", type=Path, help="py-spy record --format raw output")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--thread", help="only this thread kind, e.g. MainThread or asyncio_*")
    a = p.parse_args(argv)
    sys.stdout.write(report(a.profile, a.top, a.thread))
    return 0


if __name__ == "__main__":
    sys.exit(main())
