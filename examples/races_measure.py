"""How many runs PCT and RandomOrder need to find each race in examples/races.py.

    python examples/races_measure.py [N_SEEDS]

For each program and policy: explore() from N_SEEDS starting seeds (0, 1000, 2000,
...), each with up to 1,000 runs; prints the runs each needed and the mean.
"""

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import races  # noqa: E402
from coroloop.testing import explore  # noqa: E402


def measure(program, policy, seeds):
    counts = []
    for base in seeds:
        found = explore(program, runs=1000, policy=policy, seed=base)
        counts.append(found.runs if found is not None else None)
    return counts


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seeds = [1000 * i for i in range(n)]
    for program in (races.bank_race, races.lost_wakeup):
        for policy in ("pct", "random"):
            counts = measure(program, policy, seeds)
            found = [c for c in counts if c is not None]
            mean = statistics.mean(found) if found else float("nan")
            print(f"{program.__name__:12} {policy:7} found {len(found)}/{n}, "
                  f"max {max(found) if found else '-'}, mean runs {mean:.1f}  {counts}")
