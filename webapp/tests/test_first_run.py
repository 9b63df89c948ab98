"""The first run (issue 13): bin/run's demo stand-in LLM answers every role in its contract, a demo drafting
run ends with a realistic mix of states, every page says the answers are synthetic, the generated secret key
lets manage.py and the worker start with no variable, and stopping bin/run by any means stops its children."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from annotations import drafting, drafting_services
from annotations.demo import write_demo_folder
from annotations.models import CaptionDraft, Dataset, DraftingRun, Sample
from annotations.schema import FIELDS, parse_caption
from annotations.tests.test_drafting_pipeline import run_all
from evaluation.diagnosis import diagnosis_prompt, parse_diagnosis
from evaluation.judge import CATEGORIES, ClinicalJudge, run_sync
from training.rewards import CaptionReward
from webapp.demo_llm import DemoLLM
from webapp.llm import ROLES, EndpointConfig, LLMGateway, user_message
from webapp.llm_testserver import RuleResponder, ScriptedLLMServer

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "webapp" / "demo_llm_rules.json"
BANNER = "Demo stand-in LLM — answers are synthetic"


@pytest.fixture
def demo_server():
    with ScriptedLLMServer(RuleResponder.from_json(json.loads(RULES.read_text()))) as server:
        yield server


@pytest.fixture
def demo_images(tmp_path) -> list[tuple[str, bytes]]:
    write_demo_folder(tmp_path / "demo")
    return [(p.parent.name, p.read_bytes()) for p in sorted((tmp_path / "demo").rglob("*.jpg"))]


def gateway_for(server: ScriptedLLMServer) -> LLMGateway:
    return LLMGateway({role: EndpointConfig(role=role, base_url=server.base_url, model="demo", max_retries=0)
                       for role in ROLES})


# --- The demo responder speaks every role's contract ---------------------------------------------------------


def test_demo_answers_parse_with_the_products_own_parsers_for_every_role(demo_server, demo_images):
    gateway = gateway_for(demo_server)
    judge = ClinicalJudge(gateway=gateway)
    categories: Counter[str] = Counter()
    captions = []
    # Drafter -> structurer -> diagnoser -> judge: the real loop with the real prompts and parsers.
    for n, (label, image) in enumerate(demo_images):
        attempt = drafting.run_attempt(gateway, judge, image=image, label=label, attempt=1, sample_key=f"s{n}")
        assert attempt.caption_error == "", (label, attempt.description)
        assert list(attempt.caption) == list(FIELDS) and parse_caption(attempt.caption).lesion_type
        assert attempt.check is not None and attempt.check.category != "invalid", attempt.check.rationale
        assert len(attempt.check.diagnoses) == drafting.DIAGNOSIS_K
        categories[attempt.check.category] += 1
        captions.append(attempt.caption)
    # Mostly right, sometimes a look-alike of the same family, sometimes a miss across a safety boundary.
    assert categories["exact"] >= len(demo_images) // 2
    assert categories["sibling"] >= 1 and categories["safety_critical"] >= 1, categories
    assert len({json.dumps(c) for c in captions}) >= len(captions) - 2, "captions must vary from image to image"
    # The structurer's first reply is sometimes refused by the schema, and its repair then accepted.
    assert any("not a valid caption" in json.dumps(r["messages"][-1]) for r in demo_server.requests)

    # The evaluation prompt: diagnose from the photo, top-6.
    reply = gateway.chat("diagnoser", [user_message(diagnosis_prompt(6), [demo_images[0][1]])])
    parsed = parse_diagnosis(reply.text, 6)
    assert parsed.ok and len(parsed.diseases) == 6, parsed.error

    # The judge contract, for names the ontology cannot resolve (only those reach the LLM).
    names = ["psoriasis vulgaris of the zorbex", "qwxv"]
    verdicts = judge.judge_names("psoriasis", names)
    assert all(v.source == "llm" and v.category in CATEGORIES for v in verdicts.values())
    assert not any("unusable" in v.rationale for v in verdicts.values())
    assert verdicts["qwxv"].category == "invalid"

    # The Stage I scorer contract: field scores 0-10 for the fields that differ.
    reference, generated = dict(captions[0]), dict(captions[0])
    generated.update(color="dull violet", size="about 2 mm")
    score = run_sync(CaptionReward(gateway).ascore(json.dumps(generated), reference))
    assert score.scorer_ok and score.format_ok, score.error
    assert score.field_scores["color"] < 10 and score.field_scores["location"] == 10
    assert 0 < score.score < 1


def test_demo_answers_depend_only_on_the_request_and_its_repetition(demo_images):
    request = {"messages": [{"role": "system", "content": drafting.DRAFTER_PROMPT},
                            user_message("Describe the skin in this photograph.", images=[demo_images[0][1]])]}
    first, again = DemoLLM(), DemoLLM()
    # A rerun (a fresh server, or the cache) gives the same answers in the same order...
    assert [first.drafter(request) for _ in range(3)] == [again.drafter(request) for _ in range(3)]
    # ...and a repeated request is a new draw, as from a sampling model: the loop's next attempt differs.
    assert len({DemoLLM().drafter(request), *(first.drafter(request) for _ in range(3))}) > 1


@pytest.mark.django_db
def test_a_demo_drafting_run_ends_mostly_accepted_with_some_for_the_experts(settings, demo_server):
    call_command("seed_demo", stdout=open(os.devnull, "w"))
    settings.SKINFLOW_LLM_BASE_URL = demo_server.base_url
    dataset = Dataset.objects.get(name="Demo dermatology set")
    run = drafting_services.create_run(dataset)
    run_all(run)
    run.refresh_from_db()
    states = Counter(Sample.objects.filter(dataset=dataset).values_list("state", flat=True))
    assert run.state == DraftingRun.State.SUCCEEDED
    assert states[Sample.State.AUTO_ACCEPTED] >= 16 and 1 <= states[Sample.State.NEEDS_EXPERT] <= 8, states
    assert sum(states.values()) == 24
    # Some were accepted only on a later attempt; those left for the experts were misdiagnosed every time.
    accepted_late = CaptionDraft.objects.filter(job__run=run, consistent=True, attempt__gt=1).count()
    assert accepted_late >= 1
    expert_drafts = CaptionDraft.objects.filter(sample__state=Sample.State.NEEDS_EXPERT)
    assert set(expert_drafts.values_list("judge_category", flat=True)) <= {"sibling", "safety_critical", "unrelated",
                                                                          "parent_broad"}
    assert all(s.caption for s in Sample.objects.filter(state=Sample.State.AUTO_ACCEPTED))


# --- The banner ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_page_says_when_answers_come_from_the_demo_server(client, admin_user, dermatologist, settings,
                                                                monkeypatch):
    demo = "http://127.0.0.1:8009/v1"
    settings.SKINFLOW_LLM_BASE_URL = demo
    for role in ROLES:
        monkeypatch.delenv(f"SKINFLOW_{role.upper()}_BASE_URL", raising=False)
    client.force_login(admin_user)
    # Not started by bin/run: nothing claims to be a demo, even on the default URL.
    monkeypatch.delenv("SKINFLOW_DEMO_LLM_URL", raising=False)
    assert BANNER not in client.get(reverse("home")).content.decode()

    monkeypatch.setenv("SKINFLOW_DEMO_LLM_URL", "http://localhost:8009/v1/")  # the same server, spelled otherwise
    for url in (reverse("home"), reverse("review-queue"), reverse("eval-index"), reverse("training-index")):
        page = client.get(url).content.decode()
        assert BANNER in page, url
    assert reverse("manage-endpoints") in page  # an admin is shown where to change it

    monkeypatch.setenv("SKINFLOW_DRAFTER_BASE_URL", "https://api.openai.com/v1")
    page = client.get(reverse("home")).content.decode()
    assert BANNER in page and "not by a model: structurer, diagnoser, judge, scorer." in page

    client.force_login(dermatologist)
    page = client.get(reverse("review-queue")).content.decode()
    assert BANNER in page and reverse("manage-endpoints") not in page

    settings.SKINFLOW_LLM_BASE_URL = "https://api.openai.com/v1"  # every role on a real endpoint
    assert BANNER not in client.get(reverse("review-queue")).content.decode()


# --- The secret key of a local install -------------------------------------------------------------------------


def _settings_run(data_dir: Path, *, key: str | None = None, debug: bool = False,
                  code: str = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DATABASE_URL")}
    env.update(DJANGO_SETTINGS_MODULE="webapp.settings", SKINFLOW_DATA_DIR=str(data_dir))
    if key is not None:
        env["DJANGO_SECRET_KEY"] = key
    if debug:
        env["DJANGO_DEBUG"] = "1"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_key_file_bin_run_writes_is_read_when_the_variable_is_unset(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    # No variable, no file, DEBUG off (production without a key): refused, with the ways out.
    refused = _settings_run(data)
    assert refused.returncode != 0
    assert "DJANGO_SECRET_KEY is not set and DEBUG is off" in refused.stderr
    assert "run bin/run once" in refused.stderr and str(data / "secret_key") in refused.stderr

    key = secrets.token_urlsafe(50)
    (data / "secret_key").write_text(key + "\n")
    (data / "secret_key").chmod(0o644)
    open_file = _settings_run(data)
    assert open_file.returncode != 0 and f"chmod 600 {data / 'secret_key'}" in open_file.stderr

    (data / "secret_key").chmod(0o600)
    found = _settings_run(data)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().splitlines()[-1] == key
    # The same key with DEBUG on (bin/run's web server), so sessions and signatures agree across processes.
    assert _settings_run(data, debug=True).stdout.strip().splitlines()[-1] == key

    # The variable wins over the file (production), and is still checked as strictly as before.
    other = secrets.token_urlsafe(50)
    assert _settings_run(data, key=other).stdout.strip().splitlines()[-1] == other
    weak = _settings_run(data, key="short")
    assert weak.returncode != 0 and "DJANGO_SECRET_KEY is too weak" in weak.stderr

    (data / "secret_key").write_text("x" * 20)
    (data / "secret_key").chmod(0o600)
    weak_file = _settings_run(data, debug=True)
    assert weak_file.returncode != 0 and "is too weak" in weak_file.stderr and "secret_key" in weak_file.stderr


# --- bin/run and its children ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return _stat_fields(pid)[0] != "Z"
    except FileNotFoundError:
        return False


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces): state, parent pid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _children(pid: int) -> dict[str, int]:
    """The demo LLM server and the Celery worker started by process ``pid``.

    Read from /proc, not ``ps``: ``ps`` cuts its args column to ``$COLUMNS`` (80 on CI), which dropped
    "worker" from the worker's long command line there."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(entry.name)[1])
            args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if parent != pid:
            continue
        if "webapp.llm_testserver" in args:
            found["llm"] = int(entry.name)
        elif "celery" in args and "worker" in args:
            found["worker"] = int(entry.name)
    return found


def _wait_children(pid: int, names: set[str], within_s: float) -> dict[str, int]:
    deadline = time.monotonic() + within_s
    found = _children(pid)
    while set(found) != names and time.monotonic() < deadline:
        time.sleep(0.5)
        found = _children(pid)
    return found


def _logs(out: str, data: Path) -> str:
    """bin/run's output and the tails of its children's logs, for a failure message."""
    parts = [out]
    for name in ("worker.log", "demo-llm.log"):
        path = data / name
        tail = path.read_text(errors="replace")[-4000:] if path.exists() else "(none)"
        parts.append(f"--- {name} ---\n{tail}")
    return "\n".join(parts)


def _bin_run_env(data: Path, port: int, llm_port: int) -> dict[str, str]:
    # A new user's shell: nothing the test session (or an earlier test) exported reaches bin/run.
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env.update(SKINFLOW_DATA_DIR=str(data), PORT=str(port), SKINFLOW_DEMO_LLM_PORT=str(llm_port))
    return env


def _start_bin_run(env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own session, as from a terminal: a signal to it must not reach pytest.
    return subprocess.Popen([str(ROOT / "bin" / "run")], cwd=ROOT, env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for_page(url: str, proc: subprocess.Popen, log: Path, timeout: float = 300) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, log.read_text()
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return time.monotonic() - started
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"no page at {url} after {timeout} s:\n{log.read_text()}")


def _log_in(base: str, username: str, password: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(base + "/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    request = urllib.request.Request(base + "/login/", data=body.encode(), headers={"Referer": base + "/login/"})
    return opener.open(request).read().decode()


def _wait_gone(pids: dict[str, int], within_s: float) -> dict[str, bool]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(_alive(p) for p in pids.values()):
        time.sleep(0.2)
    return {name: _alive(pid) for name, pid in pids.items()}


@pytest.mark.slow
@pytest.mark.celery_worker
def test_bin_run_serves_the_demo_and_its_children_stop_however_it_is_stopped(tmp_path):
    data, port, llm_port = tmp_path / "data", free_port(), free_port()
    env = _bin_run_env(data, port, llm_port)
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "first.log"
    proc = _start_bin_run(env, log)
    try:
        seconds = _wait_for_page(base + "/login/", proc, log)
        print(f"bin/run: first page after {seconds:.1f} s")
        out = log.read_text()
        assert (data / "secret_key").stat().st_mode & 0o777 == 0o600
        password = re.search(r"account 'admin' \(admin\): password (\S+)", out).group(1)
        home = _log_in(base, "admin", password)
        assert BANNER in home and "admin" in home
        children = _wait_children(proc.pid, {"llm", "worker"}, within_s=60)
        assert set(children) == {"llm", "worker"}, _logs(out, data)
        # kill -9: no trap runs, yet the worker and the demo LLM notice that their parent is gone.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert _wait_gone(children, 8) == {"llm": False, "worker": False}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    # A second bin/run: no new passwords, but the accounts with their roles and the command for new ones.
    log = tmp_path / "second.log"
    proc = _start_bin_run(env, log)
    try:
        _wait_for_page(base + "/login/", proc, log)
        out = log.read_text()
        assert "): password " not in out  # nothing re-issued
        assert "  admin: admin\n" in out and "  dermatologist: dermatologist\n" in out
        assert ".venv/bin/python manage.py seed_demo --reset-passwords" in out
        children = _wait_children(proc.pid, {"llm", "worker"}, within_s=60)
        assert set(children) == {"llm", "worker"}, _logs(out, data)
        # Once the worker is up (before that, SIGHUP's default action ends it anyway), a closed terminal:
        # SIGHUP to the session.
        deadline = time.monotonic() + 120
        while " ready." not in (data / "worker.log").read_text(errors="replace"):
            assert time.monotonic() < deadline, _logs(out, data)
            time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGHUP)
        proc.wait(10)
        assert _wait_gone(children, 8) == {"llm": False, "worker": False}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_demo_llm_server_stops_when_its_parent_is_killed(tmp_path):
    port = free_port()
    shell = subprocess.Popen(
        ["bash", "-c", f'export SKINFLOW_PARENT_PID=$$; "{sys.executable}" -m webapp.llm_testserver --port {port} '
                       f'--rules "{RULES}" & echo $!; wait'],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    server_pid = int(shell.stdout.readline())
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
            break
        except OSError:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    os.kill(shell.pid, signal.SIGKILL)
    shell.wait(5)
    assert _wait_gone({"llm": server_pid}, 5) == {"llm": False}


# --- No LLM at all ---------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.celery_worker
def test_with_no_llm_server_a_drafting_run_on_a_real_worker_ends_failed_not_succeeded(tmp_path):
    """The first-run finding: with nothing on the LLM port, every sample failed and the run said succeeded."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret_key").write_text(secrets.token_urlsafe(50))
    (data / "secret_key").chmod(0o600)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG", "DATABASE_URL", "CELERY_BROKER_URL", "SKINFLOW_MEDIA_ROOT",
                        "SKINFLOW_LLM_CACHE")}
    env.update(DJANGO_SETTINGS_MODULE="webapp.settings", SKINFLOW_DATA_DIR=str(data),
               SKINFLOW_LLM_BASE_URL="http://127.0.0.1:9/v1")  # the discard port: nothing listens

    def manage(*args: str) -> str:
        proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    manage("migrate", "-v0")
    manage("seed_demo")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "default,llm",
                               "-P", "threads", "-c", "8", "--without-gossip", "--without-mingle"],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    show = ("from annotations.models import DraftingRun, DraftJob; r = DraftingRun.objects.get(); "
            "print(r.state, sorted(set(DraftJob.objects.values_list('state', flat=True))), "
            "all(e.startswith('LLM unavailable') for e in DraftJob.objects.values_list('error', flat=True)))")
    try:
        manage("shell", "-v0", "-c", "from annotations.models import Dataset; from annotations import drafting_services; "
                                     "drafting_services.create_run(Dataset.objects.get(), max_attempts=1)")
        deadline = time.monotonic() + 240
        state = manage("shell", "-v0", "-c", show).split()
        while state[0] in ("queued", "running") and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stdout.read()
            time.sleep(2)
            state = manage("shell", "-v0", "-c", show).split()
        assert state == ["failed", "['failed']", "True"], state
    finally:
        worker.terminate()
        worker.communicate(timeout=60)
