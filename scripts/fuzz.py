"""`make fuzz`: the properties of tests/fuzz/ with their full case budget, then the counts.

It runs the same checks as the deterministic slice in ``make test`` (pytest -m fuzz, with
WARDEN_FUZZ=1 so that every case is counted instead of stopping at the first failure), prints
``tried``, ``processed``, ``refused and kept``, ``crashed`` and ``lost`` per entry point, the reasons
behind them, and where the input of every crash or loss was saved (.warden/fuzz/failures/).

Exit status 1 when anything crashed or was lost, or fewer than --min-cases inputs were tried.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.fuzz.harness import TargetTally

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = ("tried", "processed", "refused and kept", "crashed", "lost")


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: a new one, printed)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every case budget (default 1)")
    parser.add_argument("--min-cases", type=int, default=10_000, help="fail if fewer inputs were tried")
    parser.add_argument("-k", dest="keyword", default=None, help="only the properties matching (pytest -k)")
    return parser.parse_args(argv)


def _table(targets: dict[str, TargetTally]) -> tuple[list[str], dict[str, int]]:
    from tests.fuzz.harness import Verdict

    width = max([len("total"), *map(len, targets)])
    lines = [f"{'':{width}}  " + "  ".join(f"{c:>{max(len(c), 7)}}" for c in COLUMNS)]
    total = dict.fromkeys(COLUMNS, 0)
    for name, tally in sorted(targets.items()):
        row = {"tried": sum(tally.counts.values()), **{v.value: tally.counts[v] for v in Verdict}}
        total = {c: total[c] + row[c] for c in COLUMNS}
        lines.append(f"{name:{width}}  " + "  ".join(f"{row[c]:>{max(len(c), 7)}}" for c in COLUMNS))
    lines.append(f"{'total':{width}}  " + "  ".join(f"{total[c]:>{max(len(c), 7)}}" for c in COLUMNS))
    return lines, total


def main(argv: list[str]) -> int:
    args = _arguments(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**32)
    os.environ["WARDEN_FUZZ"] = "1"
    os.environ["WARDEN_FUZZ_SCALE"] = str(args.scale)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    import pytest

    shutil.rmtree(ROOT / ".warden" / "fuzz" / "failures", ignore_errors=True)  # inputs of this run only
    started = time.monotonic()
    selection = ["-k", args.keyword] if args.keyword else []
    quiet = ["-W", "ignore:No application metrics to publish:UserWarning"]  # handlers that refused count nothing
    status = pytest.main(
        ["tests/fuzz", "-m", "fuzz", "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}", *quiet, *selection]
    )
    from tests.fuzz.harness import FAILURES, TALLY

    lines, total = _table(dict(TALLY.targets))
    print(f"\nmake fuzz: seed {seed}, {time.monotonic() - started:.0f} s (reproduce: scripts/fuzz.py --seed {seed})\n")
    print("\n".join(lines))
    print("\nwhy, per entry point (every crash and loss; the most frequent other outcomes):")
    for name, tally in sorted(TALLY.targets.items()):
        print(f"  {name}")
        reasons = tally.reasons.most_common()
        shown = [r for r in reasons if r[0] in tally.examples] + [r for r in reasons if r[0] not in tally.examples][:8]
        for reason, count in shown:
            saved = tally.examples.get(reason)
            print(f"    {count:>6}  {reason}" + (f"  (input: {saved.relative_to(ROOT)})" if saved else ""))
        rest = [count for reason, count in reasons if reason not in dict(shown)]
        if rest:
            print(f"    {sum(rest):>6}  ({len(rest)} other reasons)")
    failed = total["crashed"] + total["lost"]
    if failed:
        print(f"\n{failed} inputs crashed or were lost; their inputs are in {FAILURES.relative_to(ROOT)}/")
    if total["tried"] < args.min_cases:
        print(f"\nonly {total['tried']} inputs tried, fewer than {args.min_cases}")
    return 1 if failed or total["tried"] < args.min_cases or status not in (0, 5) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
