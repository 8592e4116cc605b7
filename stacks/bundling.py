"""Build the migration Lambda's asset without Docker.

pip installs locks/lambda.txt (psycopg's binary wheel, compiled for the Lambda's platform and
Python version, every file's hash checked) with --platform/--python-version/--only-binary and
--no-deps, cached under .local/lambda-deps/ so each synth only copies; then what the
MigrationBundle describes is added: the deployed modules of the migrator package, the migrations,
schema.sql and the RDS CA bundle (certs/rds-ca-bundle.pem). There is no Docker fallback: when pip
cannot provide the wheels, synth stops with one line saying so.
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
from aws_cdk import aws_lambda as lambda_

from migrator.aws.contract import CA_BUNDLE_IN_ASSET, LAMBDA_PYTHON
from stacks.bundle import PROJECT_ROOT, MigrationBundle

LAMBDA_PLATFORMS = ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64")
LOCK = PROJECT_ROOT / "locks" / "lambda.txt"  # from requirements-lambda.txt: `make lock`
COMPLETE = ".complete"
# BundlingOptions requires an image; it is never pulled: local bundling builds the asset or stops synth.
NO_DOCKER = cdk.DockerImage.from_registry("local-bundling-only-no-docker-fallback")


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
        "--require-hashes",
        "--no-deps",
        "-r",
        str(LOCK),
    ]


def dependencies_key() -> str:
    """Changes with the pip arguments and with the lock's content, not with where the project sits."""
    arguments = " ".join(pip_arguments(Path("-"))[3:-1])
    return hashlib.sha256(arguments.encode() + LOCK.read_bytes()).hexdigest()[:16]


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


def assemble(output_dir: Path, dependencies: Path, bundle: MigrationBundle) -> None:
    """The dependencies, then exactly the files the bundle's fingerprint covers."""
    shutil.copytree(
        dependencies, output_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(COMPLETE, "bin", "__pycache__")
    )
    for module in bundle.modules:
        (output_dir / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(bundle.package_root / module, output_dir / module)
    (output_dir / "migrations").mkdir(exist_ok=True)
    for migration in bundle.migration_files:
        shutil.copy2(migration, output_dir / "migrations" / migration.name)
    shutil.copy2(bundle.schema_file, output_dir / "schema.sql")
    write_atomically(output_dir / CA_BUNDLE_IN_ASSET, bundle.ca_bundle)


def write_atomically(target: Path, content: bytes) -> None:
    """Readers (parallel synths) see the old file or the new one, never a half-written one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as scratch:
        scratch.write(content)
    Path(scratch.name).chmod(0o644)  # Lambda reads the asset as an unprivileged user
    Path(scratch.name).replace(target)


def _unavailable(exc: OSError | subprocess.CalledProcessError) -> str:
    reason = f"pip exited with status {exc.returncode}" if isinstance(exc, subprocess.CalledProcessError) else exc
    return (
        f"error: cannot build the migration Lambda's dependencies ({reason}): synth needs `{sys.executable} -m pip`"
        f" and access to PyPI to download what {LOCK.relative_to(PROJECT_ROOT)} pins for Python {LAMBDA_PYTHON} on"
        f" {LAMBDA_PLATFORMS[0]} into .local/lambda-deps/; run `make setup`, check the network, then synth again"
    )


@jsii.implements(cdk.ILocalBundling)
class LocalPipBundling:
    def __init__(self, bundle: MigrationBundle) -> None:
        self.bundle = bundle

    def try_bundle(self, output_dir: str, *args: Any, **kwargs: Any) -> bool:
        try:
            dependencies = cached_dependencies()
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(_unavailable(exc)) from None  # never False: that would hand the build to Docker
        assemble(Path(output_dir), dependencies, self.bundle)
        return True


def migration_code(bundle: MigrationBundle) -> lambda_.Code:
    """The asset of the migration functions and the runner, keyed by what it ships (and the pip arguments)."""
    return lambda_.Code.from_asset(
        str(PROJECT_ROOT),
        asset_hash=f"{bundle.fingerprint[:32]}-{dependencies_key()}",
        asset_hash_type=cdk.AssetHashType.CUSTOM,
        bundling=cdk.BundlingOptions(image=NO_DOCKER, local=LocalPipBundling(bundle)),
    )
