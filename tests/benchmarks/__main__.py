"""``make bench``: run every benchmark module and print one table, target beside each figure.

Each module under tests/benchmarks named ``bench_*.py`` has ``run() -> list[dict]`` whose rows
carry ``metric``, ``value``, ``unit``, ``target`` (text) and ``ok`` (bool, or None when the row
is informational). Benchmarks are never part of ``make test``: this machine is shared and noisy.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Any


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def main(argv: list[str]) -> int:
    only = set(argv)
    package = Path(__file__).parent
    rows: list[dict[str, Any]] = []
    failures = 0
    for module_info in sorted(pkgutil.iter_modules([str(package)]), key=lambda m: m.name):
        if not module_info.name.startswith("bench_"):
            continue
        if only and module_info.name not in only:
            continue
        print(f"running {module_info.name} …", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"tests.benchmarks.{module_info.name}")
            module_rows = module.run()
            rows.extend(module_rows)
            for row in module_rows:  # as they come, so a later failure loses nothing
                print(f"  {row['metric']}: {_format(row['value'])} {row.get('unit', '')}",
                      file=sys.stderr, flush=True)
        except Exception:  # a broken benchmark is reported, the others still run
            failures += 1
            traceback.print_exc()
    header = ("metric", "value", "unit", "target", "ok")
    table = [header] + [(row["metric"], _format(row["value"]), row.get("unit", ""),
                         row.get("target", ""),
                         {True: "yes", False: "NO", None: "-"}[row.get("ok")])
                        for row in rows]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header))]
    for i, line in enumerate(table):
        print(" | ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))
        if i == 0:
            print("-|-".join("-" * width for width in widths))
    Path("bench-results.json").write_text(json.dumps(rows, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
