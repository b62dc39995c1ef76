"""Unit tests of the scripts' path logic: `python3 -m unittest discover -s scripts`."""

import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

sys.dont_write_bytecode = True
SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

import cargo_paths  # noqa: E402


def load_script(name):
    """Imports an extension-less script as a module without running its main()."""
    loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), str(SCRIPTS / name))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class TargetDirTest(unittest.TestCase):
    def test_honours_cargo_target_dir(self):
        with tempfile.TemporaryDirectory() as elsewhere:
            with mock.patch.dict(os.environ, {"CARGO_TARGET_DIR": elsewhere}):
                self.assertEqual(cargo_paths.target_dir(), Path(elsewhere))

    def test_defaults_to_the_workspace_target(self):
        env = {key: value for key, value in os.environ.items() if key != "CARGO_TARGET_DIR"}
        with mock.patch.dict(os.environ, env, clear=True):
            self.assertEqual(cargo_paths.target_dir(), cargo_paths.ROOT / "target")


class BenchAllTest(unittest.TestCase):
    def test_load_runs_the_binaries_of_cargo_target_dir(self):
        bench_all = load_script("bench-all")
        with tempfile.TemporaryDirectory() as elsewhere:
            with mock.patch.dict(os.environ, {"CARGO_TARGET_DIR": elsewhere}):
                command = bench_all.load_command(rounds=3)
        release = Path(elsewhere) / "release"
        self.assertEqual(command[0], str(release / "tessera-load"))
        self.assertEqual(command[command.index("--issuer-bin") + 1], str(release / "tessera-issuer"))


if __name__ == "__main__":
    unittest.main()
