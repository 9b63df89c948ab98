"""Every command README.md shows works as written, on the embedded default, in a fresh environment.

The commands are read from README.md itself (code blocks, and inline code that starts like a command), so a
command added to the README is either run here, listed in NOT_RUN with the reason, or this test fails naming
it. Each runs through bash from the project folder, as a user would paste it, in an environment with nothing
but PATH/HOME/LANG and a fresh SKINFLOW_DATA_DIR made by bin/run's first-run steps (the key file, migrate,
seed_demo): no DJANGO_DEBUG, no DJANGO_SECRET_KEY, no DATABASE_URL, the filesystem broker. Placeholders
(DIR, FILE, NAME, the input files) are replaced by small files the test writes; optional parts in
``[...]`` are filled in or dropped as noted per command.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from annotations.tests.images import jpeg_bytes, png_bytes, write
from annotations.tests.test_dataset_import import (DDI_HEADER, DERM7PT_HEADER, HAM_HEADER, ISIC2019_GT, ISIC2019_META,
                                                   ISIC2020_HEADER, PAD_HEADER, SCIN_CASES, SCIN_LABELS, ddi_row,
                                                   derm7pt_row, gt_row, ham_row, isic2020_row, pad_row, scin_case,
                                                   scin_label, write_csv)
from annotations.tests.test_f17k_import import HEADER as F17K_HEADER
from annotations.tests.test_f17k_import import md5, row as f17k_row
from annotations.tests.test_f17k_import import write_csv as write_f17k

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

# What starts a command: optional VAR=value assignments, then a program a user would type.
_COMMAND = re.compile(r"^(?:[A-Z][A-Z0-9_]*=\S*\s+)*(?:\.venv/bin/\S+|bin/\S+|python3?\s|celery\s|docker\s|"
                      r"docker-compose\s|echo\s|apt-get\s|pip\s|manage\.py\s)")
# "`manage.py field_frequency`" in a sentence names a command rather than showing one to type.
_COMMAND_NAME = re.compile(r"^manage\.py ([a-z_0-9]+)$")


def readme_commands(text: str | None = None) -> list[str]:
    """Every command README.md shows: code-block lines and inline code that start like a command."""
    text = README.read_text(encoding="utf-8") if text is None else text
    found: list[str] = []
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    for block in blocks:
        for line in block.splitlines():
            line = re.sub(r"\s+#\s.*$", "", line).strip()  # a trailing comment explains, it is not typed
            if _COMMAND.match(line):
                found.append(line)
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`\n]+)`", prose):
        span = span.strip()
        if _COMMAND.match(span) or "manage.py " in span:
            found.append(span)
    return list(dict.fromkeys(found))


# ---- Not run here, each with the reason ---------------------------------------------------------------------

NOT_RUN: dict[str, str] = {
    "bin/run": "starts servers until stopped: webapp/tests/test_first_run.py::"
               "test_bin_run_serves_the_demo_and_its_children_stop_however_it_is_stopped runs it for real",
    "SKINFLOW_DEMO_LLM=0 bin/run": "bin/run, as above, without the demo server; needs a real endpoint",
    "SKINFLOW_LLM_BASE_URL=https://api.openai.com/v1 SKINFLOW_LLM_MODEL=gpt-4o-mini "
    "SKINFLOW_LLM_API_KEY_ENV=OPENAI_API_KEY SKINFLOW_KEY_ENV_HOSTS=OPENAI_API_KEY=api.openai.com bin/run":
        "needs the internet and an OpenAI key (bin/run itself is tested in test_first_run.py)",
    "bin/test": "the test runner this test runs under",
    "bin/test annotations -k import": "the test runner this test runs under",
    "apt-get install -y postgresql redis-server chromium": "installs system packages (root, network)",
    "DJANGO_HTTPS=0 docker compose up": "needs Docker and builds images; webapp/tests/test_compose.py checks the file",
    ".venv/bin/python scripts/fault_drill.py": "restarts PostgreSQL and Redis for minutes (annotations/tests/"
                                               "test_chain.py runs it)",
    ".venv/bin/python scripts/journey.py --backend embedded": "about a minute of a real worker and a training run "
                                                              "(annotations/tests/test_chain.py runs it)",
    ".venv/bin/python scripts/learning_curve.py": "trains for minutes on CPU",
    ".venv/bin/python scripts/browser_journey.py --shots DIR": "about 7 minutes of bin/run, Chromium and two "
                                                               "training runs (webapp/tests/test_browser_journey.py "
                                                               "runs the journey)",
    ".venv/bin/python -m training.dve.toy --out out/figure3": "trains the Figure 3 toy for minutes on CPU",
    ".venv/bin/python benchmarks/bench_dve.py": "over 5 minutes on this 2-core machine",
    ".venv/bin/python benchmarks/bench_deidentify.py": "about 35 s of CPU on every suite run; a benchmark, not a check",
    ".venv/bin/python benchmarks/bench_llm_gateway.py": "its throughput goal is a wall-clock ratio that a busy suite "
                                                        "run misses (exit 1); a benchmark, not a check",
    "SKINFLOW_PG_DURABLE=1 .venv/bin/python scripts/with_services.py -- .venv/bin/python benchmarks/bench_review_load.py":
        "20 reviewer processes against gunicorn and durable PostgreSQL for minutes",
    **{f".venv/bin/python scripts/with_services.py -- .venv/bin/python benchmarks/{name}.py":
       "a benchmark of minutes that starts its own PostgreSQL and Redis"
       for name in ("bench_f17k_import", "bench_review_next", "bench_drafting_throughput", "bench_eval_judging",
                    "bench_review_load")},
}


# ---- Running a command in a fresh first-run environment -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Fresh:
    """A copy of a first-run data folder, an environment with nothing else in it, and a scratch folder."""

    def __init__(self, template: Path, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        shutil.copytree(template, self.data)
        self.env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
        self.env["SKINFLOW_DATA_DIR"] = str(self.data)

    def run(self, line: str, *, timeout: float = 180, stdin: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", "-c", line], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, input=stdin)
        return proc

    def ok(self, line: str, **kw) -> str:
        proc = self.run(line, **kw)
        assert proc.returncode == 0, f"{line}\nexit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout + proc.stderr

    def start(self, line: str) -> subprocess.Popen:
        return subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def shell(self, code: str) -> str:
        """What ``code`` prints (stdout only: log lines go to stderr)."""
        line = f".venv/bin/python manage.py shell -v0 -c {shlex.quote(code)}"
        proc = self.run(line)
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
        return proc.stdout


def _concrete(command: str, **values: str) -> str:
    """The README command with its placeholders filled in (each must occur, so a README edit shows here)."""
    for placeholder, value in values.items():
        assert placeholder in command, f"{placeholder!r} is no longer in {command!r}: update this test"
        command = command.replace(placeholder, value)
    return command


Runner = Callable[[str, Fresh], None]
RUNNERS: dict[str, Runner] = {}


def runs(*commands: str) -> Callable[[Runner], Runner]:
    def register(fn: Runner) -> Runner:
        for command in commands:
            RUNNERS[command] = fn
        return fn
    return register


@runs(".venv/bin/python manage.py seed_demo --reset-passwords")
def _reset_passwords(command: str, env: Fresh) -> None:
    out = env.ok(command)
    password = re.search(r"account 'admin' \(admin\): password (\S+)", out).group(1)
    assert "account 'dermatologist' (dermatologist): password" in out
    check = ("from django.contrib.auth import authenticate; from django.test import RequestFactory; "
             f"print(authenticate(RequestFactory().post('/login/'), username='admin', password={password!r}) is not None)")
    assert env.shell(check).strip().endswith("True")


@runs("python3 -c 'import secrets; print(secrets.token_urlsafe(50))'")
def _make_a_key(command: str, env: Fresh) -> None:
    key = env.ok(command).strip()
    assert len(key) >= 50
    env.env["DJANGO_SECRET_KEY"] = key  # the key it makes passes the start-up check of production settings
    shutil.move(env.data / "secret_key", env.tmp / "moved_key")
    env.ok(".venv/bin/python manage.py check")


@runs(".venv/bin/python manage.py axes_reset_username NAME")
def _unlock(command: str, env: Fresh) -> None:
    env.ok(_concrete(command, NAME="admin"))


@runs(".venv/bin/python manage.py check", ".venv/bin/python manage.py scrub_media",
      ".venv/bin/python manage.py field_frequency")
def _as_written(command: str, env: Fresh) -> None:
    env.ok(command)


@runs(".venv/bin/python -m webapp.llm_testserver --port 8009 --latency 0.1",
      ".venv/bin/python -m webapp.llm_testserver --port 8009 --rules webapp/demo_llm_rules.json")
def _llm_server(command: str, env: Fresh) -> None:
    port = free_port()  # 8009 may be taken by a bin/run on this machine; the port is the only change
    proc = env.start(_concrete(command, **{"--port 8009": f"--port {port}"}))
    try:
        deadline = time.monotonic() + 60
        while True:  # up when it answers (reading its output could block for ever if it printed nothing)
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1).read()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "Grade each of these "
                           'predictions against the reference. Predictions (JSON array):\n["psoriasis"]'}]})
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body.encode(),
                                         headers={"Content-Type": "application/json"})
        reply = json.loads(urllib.request.urlopen(request, timeout=10).read())["choices"][0]["message"]["content"]
        if "--rules" in command:
            assert json.loads(reply)["verdicts"][0]["name"] == "psoriasis"
        else:
            assert "Predictions (JSON array)" in reply  # the echo
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)


@runs(".venv/bin/celery -A webapp.celery_app worker -Q default,llm -P threads -c 16 --prefetch-multiplier 4")
def _worker(command: str, env: Fresh) -> None:
    proc = env.start(command)
    # Up means its heartbeat row is written (on worker_ready): it found the key file, the database and the broker.
    beat = "from webapp.models import WorkerHeartbeat; print(WorkerHeartbeat.objects.count())"
    try:
        deadline = time.monotonic() + 120
        while env.shell(beat).strip().splitlines()[-1] == "0":
            assert proc.poll() is None, proc.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the worker did not start within 120 s"
            time.sleep(1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@runs(".venv/bin/python manage.py evaluate_predictions FILE [--offline] [--repeats N] [--json]")
def _evaluate_predictions(command: str, env: Fresh) -> None:
    path = env.tmp / "predictions.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in [
        {"id": "a", "reference": "psoriasis", "predictions": ["psoriasis", "eczema"], "skin_type": 3},
        {"id": "b", "reference": "melanoma", "predictions": ["melanocytic naevus", "melanoma"], "skin_type": 5}]))
    out = env.ok(_concrete(command, **{"FILE": str(path), "[--offline]": "--offline", "[--repeats N]": "",
                                       "[--json]": "--json"}))
    metrics, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])
    assert metrics["n"] == 2 and metrics["top_k"][0] == 0.5


@runs("""echo '{"reference": "herpes zoster", "prediction": "shingles"}' | .venv/bin/python manage.py judge --offline""")
def _judge(command: str, env: Fresh) -> None:
    assert "exact" in env.ok(command)


@runs(".venv/bin/python benchmarks/bench_ontology.py", ".venv/bin/python benchmarks/bench_judge.py",
      ".venv/bin/python benchmarks/bench_rewards.py")
def _benchmark(command: str, env: Fresh) -> None:
    out = env.ok(command, timeout=300)
    assert "[FAIL]" not in out and "FAIL:" not in out, out[-3000:]


# -- imports: each with a small file in its format, one image found, and the count it must report --


def _imported(out: str, created: int) -> None:
    assert f"imported: {created} created" in out, out[-3000:]


@runs('.venv/bin/python manage.py import_fitzpatrick17k --csv ../shared/data/fitzpatrick17k.csv [--images DIR] '
      '[--download]')
def _f17k(command: str, env: Fresh) -> None:
    image = jpeg_bytes()
    write(env.tmp / "f17k" / f"{md5(image)}.jpg", image)
    csv_path = write_f17k(env.tmp / "fitzpatrick17k.csv", [f17k_row(md5(image)), f17k_row("0" * 32, "eczema")],
                          header=F17K_HEADER)
    # The shared 16,577-row file is the benchmark's (minutes); --download needs the internet.
    out = env.ok(_concrete(command, **{"../shared/data/fitzpatrick17k.csv": str(csv_path),
                                       "[--images DIR]": f"--images {env.tmp / 'f17k'}", "[--download]": ""}))
    _imported(out, 2)


@runs('.venv/bin/python manage.py import_folder "Clinic A" --folder DIR')
def _folder(command: str, env: Fresh) -> None:
    write(env.tmp / "clinic" / "psoriasis" / "a.jpg", jpeg_bytes())
    write(env.tmp / "clinic" / "melanoma" / "b.png", png_bytes())
    _imported(env.ok(_concrete(command, DIR=str(env.tmp / "clinic"))), 2)


@runs('.venv/bin/python manage.py import_folder "Clinic A" --csv labels.csv')
def _folder_csv(command: str, env: Fresh) -> None:
    write(env.tmp / "photos" / "a.jpg", jpeg_bytes())
    (env.tmp / "labels.csv").write_text("path,label\nphotos/a.jpg,psoriasis\n")
    _imported(env.ok(_concrete(command, **{"labels.csv": str(env.tmp / "labels.csv")})), 1)


@runs(".venv/bin/python manage.py import_dataset FORMAT --csv FILE [--images DIR] [--name NAME] [--skip-bad-rows]")
def _import_dataset_generic(command: str, env: Fresh) -> None:
    write(env.tmp / "ham_images" / "ISIC_0000001.jpg", jpeg_bytes())
    path = write_csv(env.tmp / "ham.csv", HAM_HEADER, [ham_row("HAM_1", "ISIC_0000001", "mel"),
                                                       ham_row("HAM_2", "ISIC_0000002", "")])  # a bad row, skipped
    out = env.ok(_concrete(command, FORMAT="ham10000", FILE=str(path), **{
        "[--images DIR]": f"--images {env.tmp / 'ham_images'}", "[--name NAME]": '--name "HAM subset"',
        "[--skip-bad-rows]": "--skip-bad-rows"}))
    _imported(out, 1)
    assert env.shell("from annotations.models import Dataset; print(Dataset.objects.get(name='HAM subset')"
                     ".samples.exclude(image='').count())").strip() == "1"


def _dataset(fmt: str, files: Callable[[Fresh], dict[str, str]], created: int) -> Runner:
    def run(command: str, env: Fresh) -> None:
        _imported(env.ok(_concrete(command, **files(env))), created)
    return run


def _ddi(env: Fresh) -> dict[str, str]:
    write(env.tmp / "DDI" / "images" / "000001.png", png_bytes())
    path = write_csv(env.tmp / "ddi_metadata.csv", DDI_HEADER, [ddi_row(1, "melanoma-in-situ", "56", "True"),
                                                                ddi_row(2, "seborrheic-keratosis", "12")])
    return {"ddi_metadata.csv": str(path), "DDI/images": str(env.tmp / "DDI" / "images")}


def _scin(env: Fresh) -> dict[str, str]:
    write(env.tmp / "scin_images" / "dataset" / "images" / "c1_1.png", png_bytes())
    write_csv(env.tmp / "scin_labels.csv", SCIN_LABELS, [scin_label("c1", "['Eczema']", "{'Eczema': 1.0}", "FST3")])
    path = write_csv(env.tmp / "scin_cases.csv", SCIN_CASES, [scin_case("c1")])
    return {"scin_cases.csv": str(path), "[--labels scin_labels.csv]": f"--labels {env.tmp / 'scin_labels.csv'}",
            "scin_images": str(env.tmp / "scin_images")}


def _ham(env: Fresh) -> dict[str, str]:
    write(env.tmp / "HAM10000_images" / "ISIC_0027419.jpg", jpeg_bytes())
    path = write_csv(env.tmp / "HAM10000_metadata.csv", HAM_HEADER, [ham_row("HAM_1", "ISIC_0027419", "bkl"),
                                                                     ham_row("HAM_2", "ISIC_0025030", "mel")])
    return {"HAM10000_metadata.csv": str(path), "HAM10000_images": str(env.tmp / "HAM10000_images")}


def _isic2019(env: Fresh) -> dict[str, str]:
    path = write_csv(env.tmp / "ISIC_2019_Training_GroundTruth.csv", ISIC2019_GT,
                     [gt_row("ISIC_0000000", "NV"), gt_row("ISIC_0000001", "MEL")])
    meta = write_csv(env.tmp / "ISIC_2019_Training_Metadata.csv", ISIC2019_META, [
        {"image": "ISIC_0000000", "age_approx": "55.0", "anatom_site_general": "anterior torso",
         "lesion_id": "BCN_0000001", "sex": "female"}])
    return {"ISIC_2019_Training_GroundTruth.csv": str(path),
            "[--metadata ISIC_2019_Training_Metadata.csv]": f"--metadata {meta}"}


def _isic2020(env: Fresh) -> dict[str, str]:
    write(env.tmp / "train" / "ISIC_0015719.jpg", jpeg_bytes())
    path = write_csv(env.tmp / "ISIC_2020_Training_GroundTruth_v2.csv", ISIC2020_HEADER, [
        isic2020_row("ISIC_0015719", "IP_1", "nevus"), isic2020_row("ISIC_0052212", "IP_2", "melanoma", "malignant", "1")])
    return {"ISIC_2020_Training_GroundTruth_v2.csv": str(path), "--images train": f"--images {env.tmp / 'train'}"}


def _pad(env: Fresh) -> dict[str, str]:
    write(env.tmp / "images" / "PAT_1_1_2.png", png_bytes())
    path = write_csv(env.tmp / "metadata.csv", PAD_HEADER, [pad_row(1, 1, "BCC"), pad_row(2, 2, "NEV")])
    return {"metadata.csv": str(path), "--images images": f"--images {env.tmp / 'images'}"}


def _derm7pt(env: Fresh) -> dict[str, str]:
    root = env.tmp / "release_v0"
    write(root / "images" / "NEL" / "Nel001.jpg", jpeg_bytes())
    path = write_csv(root / "meta" / "meta.csv", DERM7PT_HEADER, [derm7pt_row(1, "basal cell carcinoma")])
    return {"release_v0/meta/meta.csv": str(path), "release_v0/images": str(root / "images")}


RUNNERS.update({
    ".venv/bin/python manage.py import_dataset ddi --csv ddi_metadata.csv --images DDI/images": _dataset("ddi", _ddi, 2),
    ".venv/bin/python manage.py import_dataset scin --csv scin_cases.csv [--labels scin_labels.csv] --images scin_images":
        _dataset("scin", _scin, 1),
    ".venv/bin/python manage.py import_dataset ham10000 --csv HAM10000_metadata.csv --images HAM10000_images":
        _dataset("ham10000", _ham, 2),
    ".venv/bin/python manage.py import_dataset isic2019 --csv ISIC_2019_Training_GroundTruth.csv "
    "[--metadata ISIC_2019_Training_Metadata.csv]": _dataset("isic2019", _isic2019, 2),
    ".venv/bin/python manage.py import_dataset isic2020 --csv ISIC_2020_Training_GroundTruth_v2.csv --images train":
        _dataset("isic2020", _isic2020, 2),
    ".venv/bin/python manage.py import_dataset pad_ufes_20 --csv metadata.csv --images images":
        _dataset("pad_ufes_20", _pad, 2),
    ".venv/bin/python manage.py import_dataset derm7pt --csv release_v0/meta/meta.csv --images release_v0/images":
        _dataset("derm7pt", _derm7pt, 2),
})


# ---- The tests ----------------------------------------------------------------------------------------------


def test_every_readme_command_is_run_here_or_listed_with_a_reason():
    commands = readme_commands()
    assert len(commands) > 20, commands  # the reader still finds the README's commands
    named = [c for c in commands if _COMMAND_NAME.match(c)]
    typed = [c for c in commands if c not in named]
    not_as_written = [c for c in typed if "manage.py" in c and ".venv/bin/python manage.py" not in c]
    assert not not_as_written, ("README shows manage.py commands that do not run as written from the project folder "
                                f"(write .venv/bin/python manage.py ...): {not_as_written}")
    uncovered = [c for c in typed if c not in RUNNERS and c not in NOT_RUN]
    assert not uncovered, f"README commands neither run by this test nor listed in NOT_RUN: {uncovered}"


def test_commands_named_in_the_readme_exist(first_run):
    env = Fresh(first_run, first_run.parent / "names")
    for command in readme_commands():
        match = _COMMAND_NAME.match(command)
        if match:
            env.ok(f".venv/bin/python manage.py help {match.group(1)}")


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Path:
    """bin/run's first-run steps into a data folder (the key file, migrate, seed_demo), once; each command
    gets a copy."""
    data = tmp_path_factory.mktemp("first-run") / "data"
    data.mkdir()
    key = data / "secret_key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (secrets.token_urlsafe(50) + "\n").encode())
    os.close(fd)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env["SKINFLOW_DATA_DIR"] = str(data)
    for step in (".venv/bin/python manage.py migrate --noinput -v0", ".venv/bin/python manage.py seed_demo"):
        proc = subprocess.run(["bash", "-c", step], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
    return data


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(RUNNERS))
def test_readme_command_works_as_written(command, first_run, tmp_path):
    if command not in readme_commands():
        pytest.skip("no longer in README.md")  # the coverage test above lists what is missing instead
    RUNNERS[command](command, Fresh(first_run, tmp_path))
