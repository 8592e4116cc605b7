"""Benchmark (not a test): `cdk synth` of all environments, the Lambda asset zipped, the handler's cold import.

Targets: asset < 10 MB zipped, cold import < 300 ms. Medians over repeated runs in one process tree.
Usage (from the project root, after `make setup`): PYTHONPATH=. .venv/bin/python bench/bench_cdk.py
"""

from __future__ import annotations

import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
BIN = PROJECT / "node_modules" / ".bin"


def synth_seconds(outdir: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env["PATH"] = f"{BIN}:{PROJECT / '.venv' / 'bin'}:{env['PATH']}"
    started = time.perf_counter()
    subprocess.run(
        [str(BIN / "cdk"), "synth", "--all", "--quiet", "--no-notices", "-o", str(outdir)],
        cwd=PROJECT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def zipped_size(asset: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(asset.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(asset))
    return buffer.tell()


def cold_import_ms(asset: Path, module: str) -> float:
    """Self+children time of `module` from -X importtime, in a fresh interpreter, from the built asset."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=asset,
        env={"PYTHONPATH": str(asset), "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    )
    pattern = re.compile(rf"import time:\s+\d+ \|\s+(\d+) \|\s*{re.escape(module)}$")
    for line in done.stderr.splitlines():
        match = pattern.search(line)
        if match:
            return int(match.group(1)) / 1000
    raise RuntimeError(f"{module} not in importtime output")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        times = [synth_seconds(Path(tmp) / f"out{i}") for i in range(3)]
        (asset,) = [p for p in (Path(tmp) / "out0").glob("asset.*") if (p / "migrator").is_dir()]
        size = zipped_size(asset)
        handler_ms = statistics.median(cold_import_ms(asset, "migrator.aws.handler") for _ in range(7))
        first_call_ms = statistics.median(cold_import_ms(asset, "boto3") for _ in range(5))
    print(f"cdk synth --all (3 environments): median {statistics.median(times):.1f} s over {len(times)} runs")
    print(f"Lambda asset zipped: {size / 1e6:.2f} MB (target < 10 MB)")
    print(
        f"handler cold import (migrator.aws.handler, host CPython {sys.version.split()[0]}): median {handler_ms:.0f} ms"
        " (target < 300 ms)"
    )
    print(f"  boto3, imported at the first AWS call: median {first_call_ms:.0f} ms (the runtime ships it)")


if __name__ == "__main__":
    main()
