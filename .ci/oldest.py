"""Print the oldest versions pyproject.toml admits for the base install and the test extra
(every `>=` lower bound as `==`), for `make test-oldest`."""

import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
print(" ".join(d.replace(">=", "==") for d in project["dependencies"] + project["optional-dependencies"]["test"]))
