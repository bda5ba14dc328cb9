"""The fuzz target for the loader and validator, shared by the bounded run in the test
suite (tests/test_fuzz.py) and the open-ended one (`scripts/fuzz 10m`).

Any byte string must give a valid release or diagnostics that point inside the file:
never another exception, never more than 2 s for one input, never runaway memory.
Inputs are mutations of real files: every case under tests/cases and the example
releases. A crash found is saved under tests/cases/fuzz/, where it stays a regression
case for good.
"""

from __future__ import annotations

import hashlib
import random
import resource
import signal
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "cases"
CRASHES = CASES / "fuzz"
SECONDS_PER_INPUT = 2
MEMORY_LIMIT = 1 << 30  # 1 GiB of address space on top of what the process has


def seeds() -> list[bytes]:
    files = sorted(CASES.rglob("*.yaml")) + sorted((REPO / "releases").glob("*.yaml"))
    return [path.read_bytes() for path in files if path.is_file()]


_TOKENS = [b"*a", b"&a ", b"!!python/object ", b"%YAML 1.1\n", b"---\n", b"\t", b"\xff", b"\x00", b"{", b"}", b"[", b"]",
           b": ", b"- ", b"'", b'"', b"\\x73k-proj-", b"9" * 5000, b"1e999", b"nan", b"http://[::1/", b":99999",
           b"{{ x|tojson }}", b"\r\n", b"\xef\xbb\xbf", b"\n" * 3, b"~", b"<<: *a\n"]  # fmt: skip


def mutate(seed: bytes, rng: random.Random, rounds: int | None = None) -> bytes:
    """A few byte- and line-level edits of `seed`: flips, inserts, deletions, splices, tokens."""
    data = bytearray(seed)
    for _ in range(rounds or rng.randint(1, 8)):
        choice = rng.randrange(6)
        position = rng.randint(0, len(data))
        if choice == 0 and data:
            data[min(position, len(data) - 1)] = rng.randrange(256)
        elif choice == 1:
            data[position:position] = rng.choice(_TOKENS)
        elif choice == 2:
            del data[position : position + rng.randint(1, 40)]
        elif choice == 3 and data:
            start = rng.randint(0, len(data) - 1)
            data[position:position] = data[start : start + rng.randint(1, 200)]
        elif choice == 4:
            lines = bytes(data).split(b"\n")
            if len(lines) > 1:
                index = rng.randrange(len(lines))
                lines.insert(rng.randrange(len(lines)), lines[index])
                data = bytearray(b"\n".join(lines))
        else:
            data[position:position] = bytes(rng.randrange(32, 127) for _ in range(rng.randint(1, 12)))
    return bytes(data)


class TooSlow(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise TooSlow(f"one input took over {SECONDS_PER_INPUT} s")


def check_one(raw: bytes) -> str | None:
    """None when relc handled `raw` as it must; otherwise what went wrong."""
    from compiler.diagnostics import registered_codes
    from compiler.validate import validate_release_bytes

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(SECONDS_PER_INPUT)
    try:
        checked, diagnostics = validate_release_bytes(raw, "fuzz.yaml", CASES)
    except TooSlow as error:
        return str(error)
    except MemoryError:
        return "MemoryError"
    except Exception:  # anything else is the bug this target exists to find
        return traceback.format_exc(limit=6)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    # YAML (and editors) break lines at \r and \u2028 too, not only at \n.
    lines = len(raw.decode("utf-8", errors="replace").splitlines()) + 1
    codes = registered_codes()
    for diagnostic in diagnostics:
        if diagnostic.code not in codes:
            return f"a diagnostic with an unregistered code: {diagnostic}"
        if diagnostic.path != "fuzz.yaml":
            if not (CASES / diagnostic.path).is_file():  # a prompt template the release names
                return f"a diagnostic in neither the file nor a template it names: {diagnostic}"
            continue
        if not (1 <= diagnostic.line <= lines + 1 and diagnostic.column >= 1):
            return f"a diagnostic that points outside the file ({lines} lines): {diagnostic}"
    if checked is None and not diagnostics:
        return "neither a release nor a diagnostic"
    return None


def limit_memory() -> None:
    """Runaway memory becomes a MemoryError (reported as a crash) instead of swapping."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    limit = usage + MEMORY_LIMIT * 2
    if hard == resource.RLIM_INFINITY or hard > limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def save_crash(raw: bytes, problem: str) -> Path:
    """Keep a crashing input as a regression case (tests/test_fuzz.py replays every one)."""
    CRASHES.mkdir(parents=True, exist_ok=True)
    path = CRASHES / f"crash-{hashlib.sha256(raw).hexdigest()[:16]}.bin"
    path.write_bytes(raw)
    path.with_suffix(".txt").write_text(problem)
    return path


def parse_duration(text: str) -> float:
    """`90s`, `10m`, `2h` or plain seconds."""
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)


def main(arguments: list[str]) -> int:
    """`scripts/fuzz [DURATION] [--seed N]`: mutate and check until the time is up."""
    import time

    duration = parse_duration(arguments[0]) if arguments and not arguments[0].startswith("-") else 60.0
    seed = int(arguments[arguments.index("--seed") + 1]) if "--seed" in arguments else int(time.time())
    limit_memory()
    rng, corpus = random.Random(seed), seeds()
    started, inputs, crashes = time.monotonic(), 0, 0
    while time.monotonic() - started < duration:
        raw = mutate(rng.choice(corpus), rng)
        inputs += 1
        problem = check_one(raw)
        if problem is not None:
            crashes += 1
            print(f"crash saved as {save_crash(raw, problem)}:\n{problem}", flush=True)
    elapsed = time.monotonic() - started
    print(f"fuzz: {inputs} inputs in {elapsed:.0f} s ({inputs / elapsed:.0f}/s), seed {seed}, "
          f"{len(corpus)} seed files, {crashes} crash(es)")  # fmt: skip
    return 1 if crashes else 0
