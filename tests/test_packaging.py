"""The wheel works outside the source tree: it ships checks/, report_templates/ and the schemas."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_ships_checks_and_templates_and_renders_outside_the_tree(tmp_path, legacy_lab):
    # Given a wheel built from the checkout (the build backend comes from the index)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(tmp_path.glob("casaudit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "checks/http_basic_cleartext.py" in names
    assert "casaudit/report_templates/report.html.j2" in names
    assert "casaudit/lab/postures/exchange2007-legacy.toml" in names
    assert "casaudit/data/exchange-builds.csv" in names
    assert "casaudit/data/exchange-lifecycle.csv" in names
    assert "casaudit/data/exchange-support-policy.csv" in names
    assert "casaudit/data/exchange-tables.toml" in names
    assert "casaudit/data/casaudit.scan-1.json" in names
    assert "casaudit/data/casaudit.fleet-1.json" in names
    assert any(name.endswith("licenses/LICENSE") for name in names)

    # When it is installed alone into a directory and run from elsewhere
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(site),
         str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    scan_json = workdir / "scan.json"
    where = subprocess.run(
        [sys.executable, "-c", "import casaudit, checks; print(casaudit.__file__, checks.__file__)"],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=60,
    )
    assert where.stdout.split() and all(p.startswith(str(site)) for p in where.stdout.split())
    scan = subprocess.run(
        [sys.executable, "-m", "casaudit", "scan", *legacy_lab.scan_args(), "--json",
         str(scan_json)],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=120,
    )
    assert scan.returncode == 1, scan.stderr
    report = subprocess.run(
        [sys.executable, "-m", "casaudit", "report", str(scan_json), "--html", "r.html"],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=60,
    )
    # Then the packaged templates render the report
    assert report.returncode == 0, report.stderr
    assert "http.basic_cleartext" in Path(workdir / "r.html").read_text()


def test_docs_schema_files_are_links_to_the_schemas_the_package_ships():
    # One copy of each schema: docs/schema/ points into casaudit/data/, relatively,
    # so the repository, an editable install, an sdist and a wheel all read the same file
    for name in ("casaudit.scan-1.json", "casaudit.fleet-1.json"):
        link = ROOT / "docs" / "schema" / name
        assert link.is_symlink(), f"{link} should be a symlink"
        assert not os.path.isabs(os.readlink(link))
        assert link.resolve() == (ROOT / "casaudit" / "data" / name).resolve()
