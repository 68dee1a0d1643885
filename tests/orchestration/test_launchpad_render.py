"""Dagster's launchpad of a template's build job shows the template's parameters as typed run config, in a real
``dagster-webserver`` rendered by headless Chromium (tests/browser.py).

For ``payment-incident`` (three required parameters, no defaults) the launchpad refuses to launch and names the
missing parameters; once scaffolded, its config reference lists every declared parameter with its Dagster type
and the template's description, and the built-in parameters as optional, with their defaults. A screenshot of
the page is kept (``$HFIT_SCREENSHOT_DIR``) and checked not to be blank.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from hfit_dagster.template.loader import parse_template
from tests.api.service_harness import free_port
from tests.browser import DevToolsPage, assert_not_blank
from tests.conftest import REPO, TEMPLATES, TEST_MASKING_KEY

pytestmark = pytest.mark.e2e  # a dagster-webserver subprocess and Chromium

TEMPLATE_FILE = TEMPLATES / "bug-investigation" / "payment-incident.yaml"
LOCATION = "hfit_dagster.definitions"  # the module of the repository's workspace.yaml
WORKSPACE_QUERY = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus " \
                  "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
# the launchpad's config editor (CodeMirror 5 keeps its instance on the wrapper element)
EDITOR = "document.querySelector('.CodeMirror').CodeMirror"
# hfit parameter type -> how the launchpad's config reference writes the Dagster type
DAGSTER_TYPES = {"list[int]": "[Int]", "datetime": "String", "int": "Int", "str": "String"}


@pytest.fixture
def webserver(tmp_path: Path, demo_source: str) -> Iterator[str]:
    """``dagster-webserver`` on a free port over the repository's code location, with payment-incident as the
    only template, a Dagster home in tmp (welcome dialogs and telemetry off) and the demo source."""
    templates = tmp_path / "templates"
    templates.mkdir()
    shutil.copy(TEMPLATE_FILE, templates)
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}, "nux": {"enabled": False}}))
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump(
        {"load_from": [{"python_module": {"module_name": LOCATION, "working_directory": str(REPO)}}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFIT_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), HFIT_HOME=str(tmp_path / "hfit-home"), HFIT_TEMPLATES_DIR=str(templates),
               HFIT_MASKING_KEY=TEST_MASKING_KEY, HFIT_PROVIDER_PROD_REPLICA_URL=demo_source)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "webserver.log").open("wb")
    process = subprocess.Popen([str(Path(sys.executable).with_name("dagster-webserver")), "-w", str(workspace),
                                "-h", "127.0.0.1", "-p", str(port)], env=env, cwd=tmp_path, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_location(url, process, tmp_path / "webserver.log")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the webserver and the code server it started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def wait_for_location(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Until the webserver answers and the code location is loaded; fail with its log when it errs or exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dagster-webserver exited:\n{log.read_text(errors='replace')[-3000:]}", pytrace=False)
        try:
            answer = httpx.post(f"{url}/graphql", json={"query": WORKSPACE_QUERY}, timeout=5).json()
        except (httpx.TransportError, ValueError):
            time.sleep(0.5)
            continue
        entries = answer["data"]["workspaceOrError"]["locationEntries"]
        location = next((e for e in entries if e["name"] == LOCATION), None)
        if location and location["loadStatus"] == "LOADED":
            loaded = location["locationOrLoadError"]
            assert loaded["__typename"] == "RepositoryLocation", loaded  # not a PythonError
            return
        time.sleep(0.5)
    pytest.fail(f"code location not loaded in {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}",
                pytrace=False)


def test_the_launchpad_shows_payment_incidents_parameters_typed(webserver: str, tmp_path: Path) -> None:
    """An operator opening the launchpad of build_payment_incident cannot launch without the three parameters
    (the error names them), and after "Scaffold missing config" reads each parameter's type and description, and
    the built-in parameters' defaults, in the config reference beside the editor."""
    spec = parse_template(TEMPLATE_FILE.read_text())
    declared = spec.parameters
    assert set(declared) == {"customer_ids", "start_time", "end_time"}
    with DevToolsPage() as page:
        page.open(f"{webserver}/locations/{LOCATION}/jobs/build_payment_incident/playground")
        page.wait_for("document.body && document.body.innerText.includes('Missing required config')",
                      what="the missing-config error")
        before = page.text()
        missing = re.search(r"Missing required config entry .*", before)
        assert missing and all(f"'{name}'" in missing.group(0) for name in declared), before[-2000:]
        assert page.evaluate("Array.from(document.querySelectorAll('button'))"
                             ".find(b => b.innerText.trim() === 'Launch Run').disabled") is True

        page.click_button("Scaffold missing config")
        page.wait_for("Array.from(document.querySelectorAll('button')).some(b => b.innerText.trim() === 'Confirm')",
                      what="the scaffold confirmation")
        page.click_button("Confirm")
        page.wait_for(f"{EDITOR}.getValue().includes('customer_ids')", what="the scaffolded parameters")
        page.evaluate(f"(() => {{ const cm = {EDITOR}; const line = cm.getValue().split('\\n')"
                      ".findIndex(l => l.trim() === 'params:'); cm.focus(); cm.setCursor({line, ch: 10}); })()")
        page.wait_for("document.body.innerText.includes('customer_ids: [Int]')", what="the params reference")
        time.sleep(0.5)  # let the reference panel finish drawing before the screenshot
        shown = page.text()
        screenshot = page.screenshot(tmp_path, "launchpad-payment-incident")

    reference = shown[shown.index("Build parameters of template payment-incident"):]
    for name, pspec in declared.items():
        assert f"{name}: {DAGSTER_TYPES[pspec.type]}\n" in reference, (name, reference[:3000])  # required: no "?"
        assert pspec.description.split(",")[0] in reference, (name, pspec.description)
    assert "include_indexes?: Bool?" in reference and "default true" in reference
    assert "row_limit?: Int?" in reference and "at least 1" in reference
    assert_not_blank(screenshot)
