"""A results file of rows that several one-thread workers fill: claim the next row, score it, add it.

``results/<study>.json`` holds ``{"rows": [...], ...}``; ``<study>.claims`` the keys of rows a worker is
scoring now. Both are read and written under ``<study>.lock`` (fcntl), each replaced atomically, so an
interrupted study resumes where it stopped (``release()`` forgets the claims of stopped workers).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path


def worker_parser(doc: str) -> argparse.ArgumentParser:
    """The command line every study worker shares, ``--list`` and ``--release``; a study adds its own options."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--list", action="store_true", help="print the plan as far as it is known, and what is done")
    p.add_argument("--release", action="store_true", help="forget the claims of workers that were stopped")
    p.add_argument("--threads", type=int, default=1, help="torch threads of this worker (default 1: one per core)")
    return p


def native_bf16() -> bool:
    """Whether the device the studies sample on (``--device auto``) computes bfloat16 in hardware."""
    import tinydiff_lib as td

    return td.native_bf16(td.get_device("auto"))


class RowFile:
    """Rows of one study; ``key(row)`` says when two rows measure the same thing (tuple of plain values)."""

    def __init__(self, path: Path, key: Callable[[dict], tuple], header: dict):
        self.path, self.key, self.header = Path(path), key, header

    def _locked(self, update):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        claims_file = self.path.with_suffix(".claims")
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            results = json.loads(self.path.read_text()) if self.path.exists() else {**self.header, "rows": []}
            claims = json.loads(claims_file.read_text()) if claims_file.exists() else []
            value = update(results, claims)
            for path, data in ((self.path, results), (claims_file, claims)):
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, indent=2) + "\n")
                tmp.replace(path)
        return value

    def rows(self) -> list[dict]:
        return json.loads(self.path.read_text())["rows"] if self.path.exists() else []

    def claim_next(self, plan: Callable[[list[dict]], Iterable[dict]], ready: Callable[[dict], bool]) -> dict | None:
        """The first row of ``plan(rows so far)`` that is neither scored nor claimed and is ``ready``; now claimed."""

        def update(results, claims):
            done = {self.key(r) for r in results["rows"]} | {tuple(c) for c in claims}
            for row in plan(results["rows"]):
                if self.key(row) not in done and ready(row):
                    claims.append(list(self.key(row)))
                    return row
            return None

        return self._locked(update)

    def add(self, row: dict) -> None:
        """Store a scored row (replacing one with the same key) and release its claim."""

        def update(results, claims):
            results["rows"] = [r for r in results["rows"] if self.key(r) != self.key(row)] + [row]
            claims[:] = [c for c in claims if tuple(c) != self.key(row)]

        self._locked(update)

    def retire(self, stale: Callable[[dict], bool], note: str) -> int:
        """Move the rows for which ``stale(row)`` holds (say, scores of a file since replaced) from ``rows`` to
        ``superseded``, each with ``note``; returns how many. Readers of ``rows`` then see current scores only."""

        def update(results, claims):
            old = [r for r in results["rows"] if stale(r)]
            results["rows"] = [r for r in results["rows"] if not stale(r)]
            results.setdefault("superseded", []).extend({**r, "superseded_because": note} for r in old)
            return len(old)

        return self._locked(update)

    def release(self) -> None:
        self._locked(lambda results, claims: claims.clear())

    def worker_args(self, doc: str, argv, plan_for: Callable, add_options: Callable | None = None,
                    float32_rows: bool = False):  # fmt: skip
        """A worker's start: parse :func:`worker_parser` (plus ``add_options(parser)``), one torch thread, and
        carry out ``--release`` or ``--list`` (with the plan ``plan_for(args)``); None when one was given. A
        worker that would score stops (exit 2) where bfloat16 is emulated, unless the study has float32 rows
        (``float32_rows``: it then scores only those there, each row saying which it is)."""
        import torch

        p = worker_parser(doc)
        if add_options:
            add_options(p)
        args = p.parse_args(argv)
        if args.threads < 1:
            p.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)
        if args.release:
            self.release()
        elif args.list:
            self.print_plan(plan_for(args))
        elif not float32_rows and not native_bf16():  # bf16 rows: float32 rows would pass for them
            print(f"error: {self.path.name} is scored under bfloat16, which this CPU only emulates (no bf16 "
                  "units, td.native_bf16() is False); score it on a CPU with AVX-512 BF16 or AMX, or a GPU",
                  file=sys.stderr)  # fmt: skip
            sys.exit(2)
        return None if args.release or args.list else args

    def print_plan(self, plan: Callable[[list[dict]], Iterable[dict]]) -> None:
        """One line per planned row: ``done`` or ``todo`` and the row (the scripts' ``--list``)."""
        rows = self.rows()
        done = {self.key(r) for r in rows}
        for row in plan(rows):
            print(("done " if self.key(row) in done else "todo ") + json.dumps(row))
