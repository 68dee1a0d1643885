"""The text analyzer in a process of its own (``analyzer_process``, the builds' default): it finds exactly what the
analyzer finds in the build's process, its failures reach the build as clear errors that quote no text, and it
never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from faker import Faker

from hfit_dagster.errors import MaskingError
from hfit_dagster.masking.analyzer_process import AnalyzerProcess, shared_process
from hfit_dagster.masking.text_analysis import TextAnalyzer
from tests.fresh_process import run_python

LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "cs_CZ", "nl_NL", "pt_BR", "sv_SE", "ja_JP"]


def _tickets(count: int) -> list[str]:
    """Support-ticket-like texts: names, phones, emails, addresses and ids of twelve locales, and plain text."""
    texts = []
    for n in range(count):
        fake = Faker(LOCALES[n % len(LOCALES)])
        fake.seed_instance(n)
        texts.append([
            f"Customer {fake.name()} called from {fake.phone_number()} about order {fake.random_number(8)}.",
            f"Please send the invoice to {fake.email()} and {fake.address()}",
            f"{fake.first_name()} says the parcel never arrived; IBAN {fake.iban()}",
            "The printer on floor 3 is out of toner again.",
            "",
        ][n % 5])
    return texts


def _ends_within(pid: int, seconds: float) -> None:
    """The process ``pid`` is gone (or a zombie) within ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            return
        time.sleep(0.05)
    pytest.fail(f"analyzer process {pid} outlived its parent")


def _plain(found: list[list]) -> list[list[tuple]]:
    return [sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in spans) for spans in found]


def test_the_process_finds_what_the_build_process_finds() -> None:
    """200 texts of twelve locales: the same entities at the same offsets with the same scores either way."""
    texts = _tickets(200)
    in_process = TextAnalyzer().analyze_many(texts)
    in_child = TextAnalyzer(process=True).analyze_many(texts)
    assert _plain(in_child) == _plain(in_process)
    assert sum(map(len, in_child)) > 100  # the texts hold entities: the comparison is not of empty lists


def test_a_model_that_cannot_load_is_an_error_of_the_build(tmp_path: Path) -> None:
    """A model directory that holds no model fails the first analysis with hfit's message and hint, in the
    build's process."""
    (tmp_path / "not-a-model").mkdir()
    analyzer = TextAnalyzer(str(tmp_path / "not-a-model"), process=True)
    with pytest.raises(MaskingError, match="cannot be loaded") as failed:
        analyzer.analyze_many(["Maria Lopez"])
    assert failed.value.hint


def test_an_analyzer_that_cannot_be_built_fails_every_call_alike() -> None:
    """A build error of any kind (here an unknown setting) is the error of every call, each in a fresh process:
    never "ended unexpectedly" from a process that was still ending."""
    process = AnalyzerProcess({"nlp_model": "regex", "no_such_setting": 1})
    try:
        for _ in range(3):
            with pytest.raises(MaskingError, match=r"analyzer process \(TypeError\)"):
                process.analyze_many(["a.b@example.org"], 64)
    finally:
        process.close()


def test_the_process_gets_none_of_hfits_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The masking key and provider URLs (which may hold passwords) stay in the build's process: the analyzer's
    process needs only its configuration, sent over the pipe."""
    monkeypatch.setenv("HFIT_MASKING_KEY", "not-for-the-analyzer")
    monkeypatch.setenv("HFIT_PROVIDER_SRC_URL", "mysql+pymysql://user:secret@db/x")
    process = AnalyzerProcess({"nlp_model": "regex"})
    try:
        process.wait_ready()
        assert process._child is not None
        environment = Path(f"/proc/{process._child.pid}/environ").read_bytes().split(b"\0")
        assert not [v for v in environment if v.startswith(b"HFIT_")]
        assert any(v.startswith(b"PATH=") for v in environment)  # the rest of the environment is there
    finally:
        process.close()


def test_a_failure_in_the_process_quotes_no_text() -> None:
    """An analysis failure names its type only: the texts it was given (personal data) are in no message."""
    process = AnalyzerProcess({"nlp_model": "regex"})
    try:
        with pytest.raises(MaskingError) as failed:
            process.analyze_many(["maria.lopez@example.org", 12345], 64)  # type: ignore[list-item]
        assert "maria" not in str(failed.value) and "12345" not in str(failed.value)
        assert "analyzer process" in str(failed.value)
        [found] = _plain(process.analyze_many(["write to maria.lopez@example.org"], 64))
        assert ("EMAIL_ADDRESS", 9, 32, 1.0) in found  # the process serves on after a failed request
    finally:
        process.close()


def test_a_process_that_died_between_calls_is_started_again() -> None:
    """An analyzer process killed while idle is replaced at the next call, which answers as usual."""
    process = AnalyzerProcess({"nlp_model": "regex"})
    try:
        process.wait_ready()
        assert process._child is not None
        first = process._child.pid
        os.kill(first, signal.SIGKILL)
        process._child.wait()
        assert [len(spans) for spans in process.analyze_many(["a.b@example.org"], 64)] == [1]
        assert process._child is not None and process._child.pid != first
    finally:
        process.close()


def test_a_process_that_dies_during_a_request_is_a_clear_error_and_then_started_again() -> None:
    """A request whose analyzer process dies before answering fails with a clear error; the next call starts a
    new process."""
    process = AnalyzerProcess({"nlp_model": "regex"})
    try:
        process.wait_ready()
        assert process._child is not None
        os.kill(process._child.pid, signal.SIGKILL)
        with pytest.raises(MaskingError, match="ended unexpectedly"), process._lock:
            process._call(["a.b@example.org"], 64)  # sent as analyze_many sends it, past its start
        assert [len(spans) for spans in process.analyze_many(["a.b@example.org"], 64)] == [1]
    finally:
        process.close()


def test_an_interrupted_call_leaves_no_reply_for_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call interrupted after its texts were sent (Ctrl-C, a run's cancellation) ends the process: the next call
    gets the findings of its own texts, never the interrupted call's."""
    process = AnalyzerProcess({"nlp_model": "regex"})
    receive = AnalyzerProcess._receive
    interrupted: list[int] = []

    def interrupt_once(self: AnalyzerProcess, request: int) -> object:
        if request and not interrupted:
            interrupted.append(request)
            raise KeyboardInterrupt
        return receive(self, request)

    monkeypatch.setattr(AnalyzerProcess, "_receive", interrupt_once)
    try:
        with pytest.raises(KeyboardInterrupt):
            process.analyze_many(["mail a.b@example.org now"], 64)
        found = _plain(process.analyze_many(["nothing to see", "write to c.d@example.org"], 64))
        assert interrupted and found[0] == [] and ("EMAIL_ADDRESS", 9, 24, 1.0) in found[1]
    finally:
        process.close()


def test_a_fork_while_a_call_holds_the_process_does_not_hang() -> None:
    """Forked while another thread of the parent is inside a call (the lock held): the copy starts its own
    analyzer process instead of waiting forever for a lock nobody in it will release."""
    process = AnalyzerProcess({"nlp_model": "regex"})
    try:
        process.wait_ready()
        reader, writer = os.pipe()
        with process._lock:  # as a thread of the parent mid-call holds it at the fork
            pid = os.fork()
            if pid == 0:
                signal.alarm(60)  # a hang ends the copy instead of the test run
                try:
                    found = process.analyze_many(["a.b@example.org"], 64)
                    os.write(writer, str(len(found[0])).encode())
                finally:
                    process.close()
                    os._exit(0)
        os.close(writer)
        reply = os.read(reader, 10).decode()
        os.waitpid(pid, 0)
        assert reply == "1"
    finally:
        process.close()


def test_the_process_ends_with_the_process_that_started_it() -> None:
    """A build's process that exits at once (``os._exit``, as ``hfit`` does) leaves no analyzer process behind."""
    started = run_python(
        "import json, os, sys\n"
        "from hfit_dagster.masking.analyzer_process import shared_process\n"
        "p = shared_process({'nlp_model': 'regex'}); p.wait_ready()\n"
        "print(json.dumps({'child': p._child.pid})); sys.stdout.flush(); os._exit(0)\n")
    _ends_within(started["child"], 5.0)


def test_a_forked_process_starts_its_own_analyzer_process() -> None:
    """A process forked from a build's (a worker of a server that forks) does not talk over its parent's pipes:
    it starts an analyzer process of its own, and the parent's still answers the parent."""
    process = AnalyzerProcess({"nlp_model": "regex"})
    try:
        process.wait_ready()
        assert process._child is not None
        parent_child = process._child.pid
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the forked copy: report its analyzer process and what it found, then leave at once
            try:
                found = process.analyze_many(["a.b@example.org"], 64)
                os.write(writer, f"{process._child.pid} {len(found[0])}".encode())
            finally:
                process.close()
                os._exit(0)
        os.close(writer)
        reply = os.read(reader, 100).decode().split()
        os.waitpid(pid, 0)
        assert reply and int(reply[0]) != parent_child and reply[1] == "1"
        assert [len(spans) for spans in process.analyze_many(["c.d@example.org"], 64)] == [1]
        assert process._child.pid == parent_child
    finally:
        process.close()


def test_the_process_ends_when_its_parent_dies_while_a_fork_keeps_its_pipe() -> None:
    """A parent that exits while a forked copy of it (which holds the request pipe open) lives on: the analyzer
    process notices its parent is gone and ends anyway."""
    started = run_python(
        "import json, os, sys, time\n"
        "from hfit_dagster.masking.analyzer_process import shared_process\n"
        "p = shared_process({'nlp_model': 'regex'}); p.wait_ready()\n"
        "if os.fork() == 0:\n"
        "    os.close(1); os.close(2); time.sleep(10); os._exit(0)\n"
        "print(json.dumps({'child': p._child.pid})); sys.stdout.flush(); os._exit(0)\n")
    _ends_within(started["child"], 6.0)


def test_one_process_per_configuration() -> None:
    """Builds of one configuration share one analyzer process (one model load per service or worker)."""
    assert shared_process({"nlp_model": "regex"}) is shared_process({"nlp_model": "regex"})
    assert shared_process({"nlp_model": "regex"}) is not shared_process({"nlp_model": "regex", "language": "en"})
