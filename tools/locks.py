"""The project's dependency locks: how each is compiled, and an offline check that none is stale.

Each lock in locks/ is compiled by `uv pip compile --generate-hashes` from the direct requirements
beside it (requirements*.txt, pyproject.toml), with the command written in its header, so that
`make lock` and Renovate regenerate it the same way. `check` needs no network: it fails when a
lock was not compiled by its command, when a line has no hash, when a direct requirement is not
satisfied by the pin, when a pin claims a direct requirement that is gone, or when two locks pin a
shared package differently (the Lambda ships the psycopg the tests ran).

    python -m tools.locks compile [--upgrade-package NAME ...]
    python -m tools.locks check
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
HASHES = ("--generate-hashes",)


@dataclass(frozen=True)
class Lock:
    output: str
    inputs: tuple[str, ...]
    options: tuple[str, ...]
    extras: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()

    def command(self) -> list[str]:
        extras = [arg for extra in self.extras for arg in ("--extra", extra)]
        constraints = [arg for path in self.constraints for arg in ("-c", path)]
        return ["uv", "pip", "compile", *self.options, *HASHES, *self.inputs, *extras, *constraints, "-o", self.output]


LOCKS = (
    Lock("locks/bootstrap.txt", ("requirements-bootstrap.txt",), ("--python-version", "3.11")),
    Lock(
        "locks/dev.txt",
        ("requirements-dev.txt", "pyproject.toml"),
        ("--universal", "--python-version", "3.11"),
        extras=("local",),
    ),
    Lock(
        "locks/run.txt",
        ("pyproject.toml", "requirements-bootstrap.txt"),
        ("--universal", "--python-version", "3.11"),
        extras=("local",),
        constraints=("locks/dev.txt",),
    ),
    Lock(
        "locks/lambda.txt",
        ("requirements-lambda.txt",),
        ("--python-version", "3.14", "--python-platform", "aarch64-manylinux_2_28", "--only-binary", ":all:"),
    ),
    Lock(
        "locks/localstack.txt",
        ("requirements-localstack.txt",),
        ("--python-version", "3.13", "--python-platform", "x86_64-manylinux_2_28"),
    ),
)

# Locks that must pin a package they share to the same version (bootstrap and run are installed into dev's venv).
AGREEING = tuple(("locks/dev.txt", other) for other in ("locks/bootstrap.txt", "locks/run.txt", "locks/lambda.txt"))


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    hashed: bool
    via: tuple[str, ...]  # uv's annotations: "-r requirements-dev.txt", "aalap-vma-migrator (pyproject.toml)", names


def read_lock(path: Path) -> list[Pin]:
    """The pins of a uv requirements lock, with their hashes and `# via` annotations."""
    pins: list[Pin] = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", path.read_text()):
        match = re.match(r"([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;\\]+)", block)
        if not match:
            continue
        via_lines = [line.strip(" #") for line in block.splitlines() if line.lstrip().startswith("#")]
        via = tuple(v.removeprefix("via ").strip() for v in via_lines if v and v != "via")
        pins.append(Pin(canonicalize_name(match[1]), Version(match[2]), "--hash=sha256:" in block, via))
    return pins


def dist_info_pin(folder: Path) -> tuple[str, str]:
    """(name, version) of an installed distribution, from its `name-version.dist-info` folder's name."""
    name, version = folder.name.removesuffix(".dist-info").rsplit("-", 1)
    return canonicalize_name(name), version


def header_command(path: Path) -> str:
    lines = path.read_text().splitlines()
    return lines[1].strip(" #") if len(lines) > 1 else ""


def requirement_lines(root: Path, name: str) -> Iterator[tuple[str, str]]:
    """(file, requirement) for a requirements file and the files it includes with -r."""
    for raw in (root / name).read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            yield from requirement_lines(root, (Path(name).parent / line[3:].strip()).as_posix())
        elif not line.startswith("-"):
            yield name, line


def direct_requirements(lock: Lock, root: Path) -> list[tuple[str, Requirement]]:
    found: list[tuple[str, Requirement]] = []
    for name in lock.inputs:
        if name == "pyproject.toml":
            project = tomllib.loads((root / name).read_text())["project"]
            texts = list(project["dependencies"])
            texts += [dep for extra in lock.extras for dep in project["optional-dependencies"][extra]]
            found += [(name, Requirement(text)) for text in texts]
        else:
            found += [(source, Requirement(text)) for source, text in requirement_lines(root, name)]
    return found


def _annotated_inputs(pin: Pin) -> Iterator[str]:
    for via in pin.via:
        if via.startswith("-r "):
            yield via[3:]
        elif via.endswith("(pyproject.toml)"):
            yield "pyproject.toml"


def problems(lock: Lock, root: Path = ROOT) -> Iterator[str]:
    path = root / lock.output
    if not path.is_file():
        yield f"{lock.output} is missing"
        return
    if header_command(path) != " ".join(lock.command()):
        yield f"{lock.output} was not compiled by `{' '.join(lock.command())}`"
    pins = read_lock(path)
    by_name: dict[str, list[Pin]] = {}
    for pin in pins:
        by_name.setdefault(pin.name, []).append(pin)
        if not pin.hashed:
            yield f"{lock.output}: {pin.name}=={pin.version} has no hash"
    direct = direct_requirements(lock, root)
    for source, requirement in direct:
        locked = by_name.get(canonicalize_name(requirement.name), [])
        if not any(requirement.specifier.contains(pin.version, prereleases=True) for pin in locked):
            found = ", ".join(str(pin.version) for pin in locked) or "nothing"
            yield f"{lock.output} pins {requirement.name} at {found}, but {source} asks for {requirement}"
    named = {(source, canonicalize_name(requirement.name)) for source, requirement in direct}
    for pin in pins:
        for source in _annotated_inputs(pin):
            if (source, pin.name) not in named:
                yield f"{lock.output} still pins {pin.name} for {source}, which no longer asks for it"


def disagreements(root: Path = ROOT) -> Iterator[str]:
    for first, second in AGREEING:
        if not (root / first).is_file() or not (root / second).is_file():
            continue
        ours = {pin.name: pin.version for pin in read_lock(root / first)}
        for pin in read_lock(root / second):
            if pin.name in ours and ours[pin.name] != pin.version:
                yield f"{second} pins {pin.name} {pin.version} but {first} pins {ours[pin.name]}"


def stale(root: Path = ROOT) -> list[str]:
    return [problem for lock in LOCKS for problem in problems(lock, root)] + list(disagreements(root))


def check() -> int:
    found = stale()
    for problem in found:
        print(f"stale lock: {problem}; run `make lock`", file=sys.stderr)
    return 1 if found else 0


def compile_all(uv: str, upgrade: Sequence[str]) -> int:
    for lock in LOCKS:
        arguments = [uv, *lock.command()[1:], "--quiet", *(a for name in upgrade for a in ("--upgrade-package", name))]
        done = subprocess.run(arguments, cwd=ROOT, check=False)
        if done.returncode != 0:
            print(f"error: compiling {lock.output} failed (uv exited {done.returncode})", file=sys.stderr)
            return 1
        _write_header(ROOT / lock.output, lock)
    return check()


def _write_header(path: Path, lock: Lock) -> None:
    """The lock's own command in its header, without this run's --quiet and --upgrade-package."""
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = f"#    {' '.join(lock.command())}\n"
    path.write_text("".join(lines))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.locks", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="fail when a lock is stale (offline)")
    compile_ = sub.add_parser("compile", help="regenerate every lock, keeping today's pins where allowed")
    compile_.add_argument("--upgrade-package", action="append", default=[], metavar="NAME")
    compile_.add_argument("--uv", default=str(Path(sys.executable).with_name("uv")))
    args = parser.parse_args(argv)
    if args.command == "check":
        return check()
    return compile_all(args.uv, args.upgrade_package)


if __name__ == "__main__":
    raise SystemExit(main())
