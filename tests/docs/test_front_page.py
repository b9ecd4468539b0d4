"""The front page's layout names every folder of the repository and every test folder."""

from __future__ import annotations

import re
import subprocess

from docs import pages


def _tracked_folders() -> set[str]:
    files = subprocess.run(["git", "ls-files"], cwd=pages.ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    folders = {f.split("/")[0] for f in files if "/" in f and not f.startswith(".")}
    folders.discard("tests")
    folders |= {"/".join(f.split("/")[:2]) for f in files
                if f.startswith("tests/") and f.count("/") >= 2}
    return folders


def _layout() -> set[str]:
    block = re.search(r"```\n(.*?)```", pages.section(pages.README, "Layout"), re.S).group(1)
    return {line.split()[0].rstrip("/") for line in block.splitlines() if line.strip()}


def test_the_layout_names_every_folder():
    listed = _layout()
    missing = [folder for folder in _tracked_folders()
               if not any(entry == folder or entry.startswith(f"{folder}/") for entry in listed)]
    assert sorted(missing) == []


def test_the_layout_names_nothing_that_is_not_there():
    listed = _layout() - {"docker-compose.yml"}
    assert sorted(f for f in listed if not (pages.ROOT / f).is_dir()) == []
