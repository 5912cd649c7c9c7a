"""Runs hostile CLI invocations in one process, each under a time limit, inside a memory cap.

Started by the hostile-input tests as `python -m tests.hostile.worker CASES.json RESULTS.json`.
A case is {"argv": [...], "stdin": "..."}; its result is the exit code, stdout and stderr, and
the wall time. The address space is capped for the whole worker (resource.setrlimit), and
SIGALRM ends a case that runs too long: ipo-emu catches Exception, so the alarm raises a
BaseException it lets through, and the result says it timed out.
"""

from __future__ import annotations

import contextlib
import io
import json
import resource
import signal
import sys
import time

CASE_SECONDS = 20
MEMORY_CAP_BYTES = 3 * 1024**3


class CaseTimedOut(BaseException):
    """The case ran past CASE_SECONDS."""


def _alarm(signum, frame):  # noqa: ANN001 - a signal handler
    raise CaseTimedOut


def run_case(case: dict) -> dict:
    from emulator.cli import main

    out, err = io.StringIO(), io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO(case.get("stdin", "").encode("utf-8", "surrogateescape")))
    started = time.perf_counter()
    code: int | str
    signal.alarm(CASE_SECONDS)
    old_stdin = sys.stdin
    try:
        sys.stdin = stdin
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(case["argv"])
    except CaseTimedOut:
        code = "timeout"
    except SystemExit as exc:  # main never exits the process; say so if it did
        code = f"SystemExit({exc.code})"
    except BaseException as exc:  # noqa: BLE001 - reported, not hidden
        code = f"escaped {type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        sys.stdin = old_stdin
    return {"argv": case["argv"], "code": code, "stdout": out.getvalue()[-2000:], "stderr": err.getvalue()[-4000:],
            "seconds": time.perf_counter() - started}


def main(argv: list[str]) -> int:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    signal.signal(signal.SIGALRM, _alarm)
    with open(argv[0], encoding="utf-8") as fh:
        cases = json.load(fh)
    results = [run_case(case) for case in cases]
    with open(argv[1], "w", encoding="utf-8") as fh:
        json.dump(results, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
