"""requirements.lock agrees with pyproject.toml, and the environment under test is the lock.

The lock (`make lock` writes it, `make setup` installs it) pins every package at one version. A
range in pyproject.toml that its pin no longer satisfies, a dependency added to pyproject.toml but
not to the lock, or a .venv that drifted from the lock fails here, so `make test` never passes
on an install other than the one that is committed.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$")


def pins(text: str) -> dict[str, Version]:
    found: dict[str, Version] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"requirements.lock:{number}: not an exact pin: {line!r}"
        name = canonicalize_name(match.group(1))
        assert name not in found, f"requirements.lock:{number}: {name} pinned twice"
        found[name] = Version(match.group(2))
    return found


def declared() -> list[Requirement]:
    """Every requirement pyproject.toml states: the dependencies and every extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines += extra
    return [Requirement(line) for line in lines]


def disagreements(requirements: list[Requirement], locked: dict[str, Version]) -> list[str]:
    """Requirements the lock does not satisfy (markers evaluated for this interpreter)."""
    environment = default_environment()
    wrong = []
    for requirement in requirements:
        if requirement.marker is not None and not requirement.marker.evaluate({**environment, "extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name not in locked:
            wrong.append(f"{requirement}: not in requirements.lock")
        elif not requirement.specifier.contains(locked[name], prereleases=True):
            wrong.append(f"{requirement}: requirements.lock pins {locked[name]}")
    return wrong


def extras_requirements(requirements: list[Requirement]) -> list[Requirement]:
    """What the extras named in pyproject.toml (e.g. transformers[serving]) pull in, read from the
    installed packages' metadata."""
    environment = default_environment()
    found = []
    for requirement in requirements:
        for extra in requirement.extras:
            for line in importlib.metadata.requires(requirement.name) or []:
                needed = Requirement(line)
                if needed.marker is not None and needed.marker.evaluate({**environment, "extra": extra}):
                    if not needed.marker.evaluate({**environment, "extra": ""}):  # only with the extra
                        needed.marker = None
                        found.append(needed)
    return found


def test_every_requirement_of_pyproject_is_satisfied_by_the_lock():
    locked = pins(LOCK.read_text(encoding="utf-8"))
    wrong = disagreements(declared(), locked)
    assert not wrong, "pyproject.toml and requirements.lock disagree (run `make lock`):\n" + "\n".join(wrong)


def test_what_the_extras_pull_in_is_locked_too():
    locked = pins(LOCK.read_text(encoding="utf-8"))
    needed = extras_requirements(declared())
    assert any(canonicalize_name(r.name) == "fastapi" for r in needed)  # transformers[serving]
    wrong = disagreements(needed, locked)
    assert not wrong, "requirements.lock lacks what an extra needs (run `make lock`):\n" + "\n".join(wrong)


def test_the_check_sees_a_range_the_lock_breaks_and_a_missing_package():
    locked = {"transformers": Version("5.25.0"), "torch": Version("2.13.0+cpu")}
    assert disagreements([Requirement("transformers>=5.0,<6"), Requirement("torch>=2.13,<2.15")], locked) == []
    assert len(disagreements([Requirement("transformers>=5.0,<5.25")], locked)) == 1
    assert "not in requirements.lock" in disagreements([Requirement("pillow>=11")], locked)[0]
    with pytest.raises(AssertionError, match="not an exact pin"):
        pins("numpy>=1.26\n")


def test_the_installed_packages_are_the_locked_versions():
    """The environment the suite runs in is the lock (torch: any build of the locked release, so a
    CUDA torch installed with `make setup TORCH=own` passes)."""
    drifted = []
    for name, version in pins(LOCK.read_text(encoding="utf-8")).items():
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            drifted.append(f"{name}: locked {version}, not installed")
            continue
        same = installed.public == version.public if name == "torch" else installed == version
        if not same:
            drifted.append(f"{name}: locked {version}, installed {installed}")
    assert not drifted, "this environment is not requirements.lock (run `make setup`):\n" + "\n".join(drifted)
