"""The Debian packages the suite talks to, and the one check that none is missing.

Tests that need one say so with `@pytest.mark.system("prometheus", ...)` (or `pytestmark`). When a
collected test needs a package that is not installed, the run stops before the first test, naming the
packages and the command that installs them: the end-to-end tests never skip silently. `make test`
installs them first (scripts/system-deps.sh) when it runs as root on Debian.
"""

from __future__ import annotations

import glob
import shutil

# Debian package -> the executables that prove it is installed (any one of them).
PACKAGES: dict[str, tuple[str, ...]] = {
    "prometheus": ("prometheus",),
    "prometheus-alertmanager": ("prometheus-alertmanager",),
    "kubectl": ("kubectl",),
    "postgresql": ("/usr/lib/postgresql/*/bin/initdb",),
    "chromium": ("chromium",),
    "openssh-client": ("ssh",),
}


def installed(package: str) -> bool:
    for candidate in PACKAGES[package]:
        if candidate.startswith("/") and glob.glob(candidate):
            return True
        if not candidate.startswith("/") and shutil.which(candidate):
            return True
    return False


def missing(packages: set[str]) -> list[str]:
    unknown = packages - PACKAGES.keys()
    if unknown:
        raise ValueError(f"unknown system package(s) in a `system` marker: {', '.join(sorted(unknown))}")
    return sorted(p for p in packages if not installed(p))


def how_to_install(packages: list[str]) -> str:
    names = " ".join(packages)
    return (
        f"these tests talk to real {', '.join(packages)}, which are not installed, and never skip them.\n"
        f"  install:  sudo apt-get install -y --no-install-recommends {names}\n"
        "  (`make test` installs them itself when run as root on Debian or Ubuntu)"
    )
