"""Where Cargo puts build output, for the Python scripts next to this file.

Cargo's own answer (`cargo metadata`), so that `CARGO_TARGET_DIR`, `build.target-dir` in a Cargo config
and the default `target/` are all honoured, as the shell scripts honour `CARGO_TARGET_DIR`.
"""

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def target_dir():
    """The workspace's target directory, as Cargo resolves it."""
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT,
                         check=True, capture_output=True, text=True)
    return Path(json.loads(out.stdout)["target_directory"])


def release_binary(name, target=None):
    """The path of the release build of binary `name`."""
    return (target or target_dir()) / "release" / name
