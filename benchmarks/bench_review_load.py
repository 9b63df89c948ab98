"""Benchmark: reviewing through the real server (gunicorn + PostgreSQL with fsync on), 20 reviewer processes.

    SKINFLOW_PG_DURABLE=1 .venv/bin/python scripts/with_services.py -- .venv/bin/python benchmarks/bench_review_load.py
    ... bench_review_load.py --quick          # 2,000 samples, 20 reviewers x 10 loops: a short check
    ... bench_review_load.py --profile        # also: SQL count and time per request, EXPLAIN ANALYZE of the claim
    ... bench_review_load.py --reviewed 15000 # late in a campaign: the oldest 15,000 were reviewed before
    ... bench_review_load.py --threads 1      # gunicorn sync workers (the Dockerfile's) instead of gthread

The load under which Label Studio 1.23.2 was measured on this machine: 20,000 samples waiting for review,
20 dermatologist accounts, 20 reviewer processes (multiprocessing, one HTTP client each, logged in through the
login page like a browser: session cookie + CSRF header), each looping 50 times over

    POST /api/review/samples/next/           claim-next (the review page's "Review next sample")
    think time, exponential with mean 100 ms (memoryless, like bench_review_next.py; long tail included)
    POST /api/review/samples/<id>/revisions/ save the edited caption on top of the claimed version ("Accept",
                                             Alt+A: the page saves, then waits for the consistency re-check)
    GET  /api/review/revisions/<rev>/        polled every --poll-ms (default 1000 ms, as the page does) until
                                             the re-check has run. A consistent re-check accepts the sample and
                                             ends the claim, so the next claim gets a new sample. (Label
                                             Studio's submit is synchronous; here acceptance is asynchronous, so
                                             the page waits for the verdict: --poll-ms 100 is a harder load.)

gunicorn runs with the web container's settings (webapp/gunicorn_conf.py, as the Dockerfile and docker-compose.yml
start it): 3 gthread workers x 4 threads by default: 3 processes so that Python (one core per process,
the GIL) can use both cores while one process waits; 4 threads each so that a request waiting on PostgreSQL
(an fsync'd commit) or on Redis does not idle its process, and keep-alive connections like a browser's.
Measured here under the same load: 3 sync workers gave claim p50 690 / p95 1468 ms, 5 sync workers 422 / 916,
3 x 4 gthread 142 / 704 (at equal CPU per request), so gthread is the default.

Reported beside the latencies: the CPU each part used per loop (gunicorn, Celery worker, PostgreSQL, the LLM
stand-in, the clients, from /proc) and gunicorn's CPU per request (comparable between runs whose re-checks, and so
polls per loop, differ), which stay meaningful when other work shares the machine, and the load average before
and after.

The re-check runs where it runs in production: a Celery worker (llm queue, 8 threads, as bin/run starts it)
calling the project's local OpenAI-compatible server (webapp/llm_testserver.py) whose one rule answers the
label, so every caption is consistent. It shares the machine's two cores with gunicorn, PostgreSQL, Redis and
the 20 clients, as docker-compose's web and worker containers would.

Goal: p95 of claim-next and of save <= 250 ms (a tenth of Label Studio's next-task p95, 2.52 s on PostgreSQL),
no sample ever held by two reviewers (checked in the database from every claim and decision event, and from
the clients' own logs), no errors. "accept" is the time from the save's answer until the re-check's verdict
was seen (LLM round trip and queueing included; reported, not part of the goal).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-" + secrets.token_urlsafe(16)
DATASET = "bench-review-load"
GOAL_MS = 250.0
LABEL = "psoriasis"
LABEL_STUDIO = "Label Studio 1.23.2, same load, PostgreSQL: next-task p50 1690 ms, p95 2520 ms"


# --- the reviewer client (no Django in here: a child process is a browser, not the app) -------------------

class Browser:
    """One keep-alive HTTP connection with a cookie jar and Django's CSRF header, like the review page's fetch."""

    def __init__(self, port: int) -> None:
        self.port, self.conn, self.cookies, self.reconnects = port, None, {}, 0

    def request(self, method: str, path: str, body: dict | None = None, form: dict | None = None
                ) -> tuple[int, bytes]:
        headers = {"Host": "127.0.0.1", "Accept": "application/json"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
        data = None
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        elif form is not None:
            data, headers["Content-Type"] = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection before it read this request: send it again.
                self.conn.close()
                self.conn = None
                self.reconnects += 1
                if attempt == 2:
                    raise
                continue
            for raw in resp.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(raw).items():
                    self.cookies[name] = morsel.value
            if resp.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return resp.status, payload
        raise AssertionError("unreachable")

    def login(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if status != 200 or token is None:
            raise RuntimeError(f"login page answered {status}")
        status, _ = self.request("POST", "/login/", form={"username": username, "password": password,
                                                          "csrfmiddlewaretoken": token.group(1).decode()})
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"login as {username} failed ({status})")


def reviewer(index: int, port: int, loops: int, think_ms: float, poll_ms: float, seed: int,
             barrier, results) -> None:
    import random

    rng = random.Random(seed * 1000 + index)
    name = f"bench-derm-{index}"
    out = {"name": name, "claim": [], "save": [], "poll": [], "accept": [], "claimed": [], "errors": {},
           "error_samples": [], "same_again": 0, "empty": 0, "start": 0.0, "end": 0.0, "reconnects": 0, "cpu": 0.0}

    def error(kind: str, detail: str) -> None:
        out["errors"][kind] = out["errors"].get(kind, 0) + 1
        if len(out["error_samples"]) < 5:
            out["error_samples"].append(f"{kind}: {detail[:200]}")

    browser = Browser(port)
    try:
        browser.login(name, os.environ["BENCH_PASSWORD"])
    except Exception as exc:  # noqa: BLE001 - reported by the parent
        error("login", repr(exc))
        barrier.wait()
        results.put(out)
        return
    barrier.wait()
    out["start"], cpu0 = time.perf_counter(), time.process_time()
    previous = None
    for _ in range(loops):
        try:
            t0 = time.perf_counter()
            status, payload = browser.request("POST", "/api/review/samples/next/", body={})
            out["claim"].append(time.perf_counter() - t0)
            if status == 204:
                out["empty"] += 1
                break
            if status != 200:
                error(f"claim {status}", payload.decode(errors="replace"))
                continue
            sample = json.loads(payload)
            if sample["id"] == previous:
                out["same_again"] += 1  # the last re-check had not finished: the page would show the same sample
            else:
                out["claimed"].append(sample["id"])
            previous = sample["id"]
            time.sleep(rng.expovariate(1000.0 / think_ms) if think_ms > 0 else 0)
            caption = dict(sample["caption"] or {})
            caption["other"] = f"checked by {name} at loop {len(out['claim'])}"
            t0 = time.perf_counter()
            status, payload = browser.request("POST", f"/api/review/samples/{sample['id']}/revisions/",
                                              body={"caption": caption, "base_version": sample["caption_version"]})
            saved = time.perf_counter()
            out["save"].append(saved - t0)
            if status != 201:
                error(f"save {status}", payload.decode(errors="replace"))
                continue
            revision = json.loads(payload)
            deadline = saved + 60
            while revision["check_state"] == "pending" and time.perf_counter() < deadline:
                time.sleep(poll_ms / 1000)
                t0 = time.perf_counter()
                status, payload = browser.request("GET", f"/api/review/revisions/{revision['id']}/")
                out["poll"].append(time.perf_counter() - t0)
                if status != 200:
                    error(f"poll {status}", payload.decode(errors="replace"))
                    break
                revision = json.loads(payload)
            if revision["check_state"] == "consistent":
                out["accept"].append(time.perf_counter() - saved)
            else:
                error(f"re-check {revision['check_state']}", str(revision.get("check_error") or "no verdict in 60 s"))
        except Exception as exc:  # noqa: BLE001 - counted and reported, the loop goes on like a user would
            error(type(exc).__name__, repr(exc))
    out["end"], out["cpu"] = time.perf_counter(), time.process_time() - cpu0
    out["reconnects"] = browser.reconnects
    results.put(out)


# --- the harness (Django here) -------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port}{path} within {timeout:.0f} s")


def cpu_by_tree(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each root process and all its descendants, from /proc."""
    table: dict[int, tuple[int, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    totals = {}
    for name, root in roots.items():
        todo, seen, total = [root], set(), 0.0
        while todo:
            pid = todo.pop()
            if pid in seen or pid not in table:
                continue
            seen.add(pid)
            total += table[pid][1]
            todo += children.get(pid, [])
        totals[name] = total
    return totals


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def line(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:<12} no requests"
    return (f"{label:<12} n={len(values):5d}  p50 {pct(values, .50):7.1f} ms  p95 {pct(values, .95):7.1f} ms  "
            f"p99 {pct(values, .99):7.1f} ms  max {max(values) * 1000:7.1f} ms")


def make_data(n: int, reviewers: int, reviewed: int = 0):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from annotations.models import CaptionDraft, Dataset, Sample
    from annotations.tests.scripted_llm import caption_json
    from webapp.roles import DERMATOLOGIST, grant_role

    t0 = time.perf_counter()
    Dataset.objects.filter(name=DATASET).delete()
    ds = Dataset.objects.create(name=DATASET, source="folder")
    Sample.objects.bulk_create([Sample(dataset=ds, external_id=f"s{i:06d}", label=LABEL, image=f"bench/{i}.jpg",
                                       state=Sample.State.NEEDS_EXPERT) for i in range(n)], batch_size=5000)
    draft = json.loads(caption_json("machine draft"))
    CaptionDraft.objects.bulk_create(
        [CaptionDraft(sample_id=pk, attempt=1, prompt_version="bench", drafter_model="bench", caption=draft,
                      consistent=True, judge_category="exact", diagnoses=[LABEL])
         for pk in ds.samples.values_list("id", flat=True)], batch_size=5000)
    User = get_user_model()
    User.objects.filter(username__startswith="bench-derm-").delete()
    hashed = make_password(PASSWORD)  # one hash for all: 20 PBKDF2 runs would only slow the setup
    users = User.objects.bulk_create([User(username=f"bench-derm-{i}", password=hashed) for i in range(reviewers)])
    for user in User.objects.filter(username__startswith="bench-derm-"):
        grant_role(user, DERMATOLOGIST)
    if reviewed:
        # Late in a campaign: the oldest samples were reviewed already, with the events a review leaves.
        from annotations.models import SampleEvent

        done = list(ds.samples.order_by("id").values_list("id", flat=True)[:reviewed])
        Sample.objects.filter(id__in=done).update(state=Sample.State.EXPERT_ACCEPTED, caption=draft, caption_version=1)
        K = SampleEvent.Kind
        SampleEvent.objects.bulk_create([SampleEvent(sample_id=sid, actor=users[i % len(users)], kind=kind)
                                         for i, sid in enumerate(done)
                                         for kind in (K.CLAIMED, K.REVISION_SAVED, K.CHECK_CONSISTENT,
                                                      K.EXPERT_ACCEPTED)], batch_size=5000)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")  # fresh statistics, as autovacuum keeps them on a live database
    print(f"data: {n - reviewed:,} samples waiting for review (one machine draft each)"
          + (f", {reviewed:,} reviewed before" if reviewed else "")
          + f", {len(users)} dermatologists, {time.perf_counter() - t0:.1f} s")
    return ds


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    # Own process group: stopping it stops gunicorn's or Celery's children too, and nothing else.
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def verify(ds, outputs: list[dict], since) -> list[str]:
    """Problems found: a sample claimed by two reviewers whose holds overlap (events), a save or decision by
    someone who did not hold the claim, or a sample id handed to two clients (their logs)."""
    from annotations.models import SampleEvent

    problems = []
    owner: dict[int, str] = {}
    for out in outputs:
        for sid in out["claimed"]:
            if sid in owner and owner[sid] != out["name"]:
                problems.append(f"clients: sample {sid} handed to {owner[sid]} and {out['name']}")
            owner[sid] = out["name"]
    K = SampleEvent.Kind
    ends = {K.EXPERT_ACCEPTED, K.RELEASED, K.SKIPPED, K.REJECTED, K.EXPERT_OVERRIDE}
    holds: dict[int, list[list]] = {}
    events = SampleEvent.objects.filter(sample__dataset=ds, created_at__gte=since) \
        .order_by("sample_id", "created_at", "id") \
        .values_list("sample_id", "kind", "actor__username", "created_at")
    counts = {"claims": 0, "saves": 0, "accepts": 0}
    for sid, kind, actor, at in events.iterator(chunk_size=5000):
        open_holds = holds.setdefault(sid, [])
        if kind == K.CLAIMED:
            counts["claims"] += 1
            other = [h for h in open_holds if h[1] is None and h[0] != actor]
            if other:
                problems.append(f"events: sample {sid} claimed by {actor} at {at} while {other[0][0]} held it")
            open_holds.append([actor, None])
        elif kind == K.REVISION_SAVED:
            counts["saves"] += 1
            if not any(h[0] == actor and h[1] is None for h in open_holds):
                problems.append(f"events: sample {sid} saved by {actor}, who held no claim on it")
        elif kind in ends:
            counts["accepts"] += kind == K.EXPERT_ACCEPTED
            for h in open_holds:
                if h[1] is None and (h[0] == actor or kind == K.EXPERT_ACCEPTED):
                    h[1] = at
    print(f"database: {counts['claims']} claim events, {counts['saves']} saves, {counts['accepts']} accepted; "
          f"{len(holds)} samples touched")
    # Where an accept's wait goes: the worker (revision stored -> verdict stored) or the page's polling.
    from annotations.models import CaptionRevision

    verdicts = {(sid, (d or {}).get("version")): at for sid, d, at in SampleEvent.objects.filter(
        sample__dataset=ds, kind=K.CHECK_CONSISTENT, created_at__gte=since).values_list("sample_id", "detail", "created_at")}
    waits = [(verdicts[(sid, v)] - at).total_seconds() for sid, v, at in CaptionRevision.objects.filter(
        sample__dataset=ds, created_at__gte=since).values_list("sample_id", "version", "created_at") if (sid, v) in verdicts]
    print(line("re-check", waits) + "  (revision stored -> verdict stored, from the database)")
    return problems


def run_load(args, port: int, roots: dict[str, int]) -> tuple[list[dict], float, dict[str, float]]:
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(args.reviewers + 1), ctx.Queue()
    procs = [ctx.Process(target=reviewer, args=(i, port, args.loops, args.think_ms, args.poll_ms, args.seed,
                                                barrier, results)) for i in range(args.reviewers)]
    for p in procs:
        p.start()
    barrier.wait(timeout=300)  # everybody is logged in
    t0, cpu0 = time.perf_counter(), cpu_by_tree(roots)
    outputs = [results.get(timeout=1800) for _ in procs]
    wall = time.perf_counter() - t0
    cpu1 = cpu_by_tree(roots)
    for p in procs:
        p.join(timeout=30)
    cpu = {name: cpu1[name] - cpu0.get(name, 0.0) for name in roots}
    cpu["clients"] = sum(o["cpu"] for o in outputs)
    return outputs, wall, cpu


def report(args, outputs: list[dict], wall: float, problems: list[str], gunicorn_desc: str,
           cpu: dict[str, float]) -> bool:
    merged = {k: [v for o in outputs for v in o[k]] for k in ("claim", "save", "poll", "accept")}
    claims = sum(len(o["claimed"]) for o in outputs)
    started = min((o["start"] for o in outputs if o["start"]), default=0)
    ended = max((o["end"] for o in outputs), default=0)
    span = max(ended - started, 1e-9)
    errors: dict[str, int] = {}
    for o in outputs:
        for k, v in o["errors"].items():
            errors[k] = errors.get(k, 0) + v
    print(f"\n{args.reviewers} reviewer processes x {args.loops} loops over {args.samples - args.reviewed:,} waiting "
          f"samples{f' ({args.reviewed:,} reviewed before)' if args.reviewed else ''}; think time "
          f"exponential, mean {args.think_ms:.0f} ms; re-check polled every {args.poll_ms:.0f} ms; {gunicorn_desc}")
    print(line("claim-next", merged["claim"]))
    print(line("save", merged["save"]))
    print(line("poll", merged["poll"]))
    print(line("accept", merged["accept"]) + "  (save answered -> re-check verdict seen)")
    print(f"claims: {claims} new samples in {span:.1f} s = {claims / span:.1f} claims/s overall; "
          f"{sum(o['same_again'] for o in outputs)} claims gave back the reviewer's own unfinished sample; "
          f"{sum(o['empty'] for o in outputs)} empty queues; {sum(o['reconnects'] for o in outputs)} reconnects")
    loops = max(len(merged["save"]), 1)
    print("CPU per loop (claim + save + polls + re-check): " + ", ".join(
        f"{name} {secs / loops * 1000:.1f} ms" for name, secs in cpu.items())
        + f"; total {sum(cpu.values()) / loops * 1000:.1f} ms; the run used {sum(cpu.values()) / span:.2f} of "
          f"{os.cpu_count()} cores")
    requests = sum(len(merged[k]) for k in ("claim", "save", "poll"))
    if "gunicorn" in cpu and requests:
        # Per request rather than per loop: a faster re-check means fewer polls per loop, so this one compares runs.
        print(f"gunicorn CPU per request: {cpu['gunicorn'] / requests * 1000:.1f} ms ({requests} requests: "
              f"{len(merged['claim'])} claims, {len(merged['save'])} saves, {len(merged['poll'])} polls)")
    print(f"errors: {sum(errors.values())}" + (f" {errors}" if errors else ""))
    for o in outputs:
        for e in o["error_samples"][:2]:
            print(f"  {o['name']}: {e}")
    print(f"shared samples: {len(problems)}" + "".join(f"\n  {p}" for p in problems[:10]))
    print(f"compare: {LABEL_STUDIO}")
    claim_ok, save_ok = pct(merged["claim"], .95) <= GOAL_MS, pct(merged["save"], .95) <= GOAL_MS
    print(f"goal p95 <= {GOAL_MS:.0f} ms: claim-next {'PASS' if claim_ok else 'FAIL'}, save {'PASS' if save_ok else 'FAIL'}; "
          f"no sample shared {'PASS' if not problems else 'FAIL'}; no errors {'PASS' if not errors else 'FAIL'}")
    ok = claim_ok and save_ok and not problems and not errors and claims > 0
    print(f"{load()} (after the run)")
    print("PASS" if ok else "FAIL")
    return ok


def profile(ds, rounds: int) -> None:
    """Where one claim and one save spend their time: the same requests through Django's test client in this
    process (the full middleware stack, session login), with every SQL statement timed, and the plan of the
    claim's candidate query."""
    import cProfile
    import pstats
    from collections import Counter

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Exists, OuterRef
    from django.test import Client
    from django.utils import timezone

    from annotations.models import Sample, SampleEvent
    from annotations.review_selectors import free_q

    user = get_user_model().objects.get(username="bench-derm-0")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    client.get("/review/")  # csrftoken cookie
    csrf = {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value} if "csrftoken" in client.cookies else {}

    stats: dict[str, list] = {}

    class Timer:
        def __init__(self) -> None:
            self.queries: list[tuple[float, str]] = []

        def __call__(self, execute, sql, params, many, context):
            t0 = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                self.queries.append((time.perf_counter() - t0, sql))

    def timed(name: str, fn):
        timer = Timer()
        t0 = time.perf_counter()
        with connection.execute_wrapper(timer):
            resp = fn()
        total = time.perf_counter() - t0
        stats.setdefault(name, []).append((total, timer.queries, resp.status_code))
        return resp

    profiler = cProfile.Profile()
    for i in range(rounds):
        if i == rounds - 1:
            profiler.enable()
        resp = timed("claim-next", lambda: client.post("/api/review/samples/next/", {}, content_type="application/json",
                                                       **csrf))
        sample = resp.json()
        caption = dict(sample["caption"])
        caption["other"] = f"profile {i}"
        resp = timed("save", lambda: client.post(f"/api/review/samples/{sample['id']}/revisions/",
                                                 {"caption": caption, "base_version": sample["caption_version"]},
                                                 content_type="application/json", **csrf))
        rev = resp.json()
        timed("poll", lambda: client.get(f"/api/review/revisions/{rev['id']}/"))
        if i == rounds - 1:
            profiler.disable()
        # Finish the sample as the re-check would, so the next round claims a new one.
        Sample.objects.filter(pk=sample["id"]).update(state=Sample.State.EXPERT_ACCEPTED, claimed_by=None,
                                                      claim_expires_at=None)
    print(f"\nprofile: {rounds} rounds in this process (test client, full middleware, session), {load()}")
    for name, rows in stats.items():
        rows = rows[1:] or rows  # the first round warms caches
        totals = sorted(r[0] for r in rows)
        n_sql = [len(r[1]) for r in rows]
        sql_ms = [sum(q[0] for q in r[1]) * 1000 for r in rows]
        print(f"{name:<11} median {totals[len(totals) // 2] * 1000:6.1f} ms; SQL statements {min(n_sql)}-{max(n_sql)}, "
              f"SQL time median {sorted(sql_ms)[len(sql_ms) // 2]:.1f} ms; status {rows[-1][2]}")
        shapes = Counter()
        spent = Counter()
        for _, queries, _ in rows:
            for secs, sql in queries:
                shape = re.sub(r"\s+", " ", sql)[:150]
                shapes[shape] += 1
                spent[shape] += secs
        for shape, secs in spent.most_common(6):
            print(f"    {secs / len(rows) * 1000:6.2f} ms x{shapes[shape] / len(rows):.1f}  {shape}")
    print("\nPython time of the last round (cumulative, top entries under the view):")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(r"(annotations|webapp|rest_framework|csp|axes|"
                                                                r"django/(db|contrib/sessions|middleware))", 18)
    # The claim's candidate query, as claim_next builds it, on this table (after the run's claims).
    from django.db import transaction

    now = timezone.now()
    skipped = SampleEvent.objects.filter(sample=OuterRef("pk"), actor=user, kind=SampleEvent.Kind.SKIPPED)
    query = Sample.objects.filter(free_q(now)).filter(~Exists(skipped), state=Sample.State.NEEDS_EXPERT).order_by("id")
    print("\nEXPLAIN ANALYZE of the claim's candidate query (oldest free needs_expert sample with its dataset, "
          "only the sample's row locked):")
    with transaction.atomic():
        print(query.select_related("dataset").select_for_update(skip_locked=True, of=("self",))[:1]
              .explain(analyze=True))
        transaction.set_rollback(True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 samples, 10 loops per reviewer")
    parser.add_argument("--samples", type=int)
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--loops", type=int)
    parser.add_argument("--think-ms", type=float, default=100.0)
    parser.add_argument("--poll-ms", type=float, default=1000.0, help="re-check polling (the page: 1000)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reviewed", type=int, default=0,
                        help="samples already reviewed before the run (the oldest ones): a campaign's late stage")
    parser.add_argument("--profile", action="store_true", help="afterwards: SQL and Python time per request")
    parser.add_argument("--profile-only", action="store_true", help="only the profile, no server")
    args = parser.parse_args()
    args.samples = args.samples or (2_000 if args.quick else 20_000)
    args.loops = args.loops or (10 if args.quick else 50)

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("run under scripts/with_services.py (PostgreSQL + Redis), with SKINFLOW_PG_DURABLE=1")
    tmp = Path(tempfile.mkdtemp(prefix="bench-review-load-"))
    os.environ["BENCH_PASSWORD"] = PASSWORD
    os.environ["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)  # generated, as a deployment's would be
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("SKINFLOW_DATA_DIR", str(tmp / "data"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _django import setup

    setup()
    from django.db import connection, connections
    from django.utils import timezone

    with connection.cursor() as cur:
        cur.execute("SHOW fsync")
        fsync = cur.fetchone()[0]
        cur.execute("SHOW synchronous_commit")
        sync = cur.fetchone()[0]
    print(f"PostgreSQL fsync={fsync}, synchronous_commit={sync}; {os.cpu_count()} CPUs; {load()}")
    if fsync != "on":
        print("warning: fsync is off; set SKINFLOW_PG_DURABLE=1 for production-like numbers")
    ds = make_data(args.samples, args.reviewers, args.reviewed)
    ok = True
    procs: list[subprocess.Popen] = []
    try:
        if not args.profile_only:
            llm_port, web_port = free_port(), free_port()
            rules = tmp / "rules.json"
            from annotations.tests.scripted_llm import diagnosis_answer

            rules.write_text(json.dumps({"rules": [], "default": diagnosis_answer(LABEL)}))
            env = dict(os.environ, SKINFLOW_LLM_BASE_URL=f"http://127.0.0.1:{llm_port}/v1",
                       SKINFLOW_ALLOWED_ENDPOINT_HOSTS=f"127.0.0.1:{llm_port}",
                       SKINFLOW_LLM_CACHE=str(tmp / "llm-cache.sqlite3"), PYTHONUNBUFFERED="1")
            py, venv = sys.executable, Path(sys.executable).parent
            procs.append(start([py, "-m", "webapp.llm_testserver", "--port", str(llm_port), "--rules", str(rules)],
                               env, tmp / "llm.log"))
            procs.append(start([str(venv / "celery"), "-A", "webapp.celery_app", "worker", "-Q", "llm", "-P", "threads",
                                "--concurrency", "8", "--loglevel", os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"), "-n", f"bench-{os.getpid()}@%h"],
                               env, tmp / "worker.log"))
            # The web container's settings (webapp/gunicorn_conf.py: gthread, keep-alive), with this run's
            # --workers / --threads on top; --threads 1 is the old sync worker.
            gunicorn_desc = (f"gunicorn {args.workers} workers x {args.threads} threads (gthread)"
                             if args.threads > 1 else f"gunicorn {args.workers} sync workers")
            procs.append(start([str(venv / "gunicorn"), "--config", str(ROOT / "webapp" / "gunicorn_conf.py"),
                                "webapp.wsgi:application", "--bind", f"127.0.0.1:{web_port}",
                                "--workers", str(args.workers), "--threads", str(args.threads),
                                "--worker-class", "gthread" if args.threads > 1 else "sync"],
                               env, tmp / "gunicorn.log"))
            wait_http(web_port, "/healthz")
            wait_http(llm_port, "/v1/models")
            print(f"servers up: gunicorn :{web_port}, Celery worker (llm queue, 8 threads), LLM stand-in :{llm_port}; "
                  f"{load()}")
            with connection.cursor() as cur:
                cur.execute("SELECT pg_backend_pid()")
                backend = cur.fetchone()[0]
            postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
            roots = {"gunicorn": procs[2].pid, "celery worker": procs[1].pid, "LLM stand-in": procs[0].pid,
                     "PostgreSQL": postmaster}
            connections.close_all()  # the children are forked: none may inherit this process's connection
            since = timezone.now()
            outputs, wall, cpu = run_load(args, web_port, roots)
            problems = verify(ds, outputs, since)
            ok = report(args, outputs, wall, problems, gunicorn_desc, cpu)
            if not ok and any(p.poll() is not None for p in procs):
                print("a server stopped during the run: see", tmp)
    finally:
        for proc in reversed(procs):
            stop(proc)
    if args.profile or args.profile_only:
        profile(ds, rounds=30)
    ds.delete()
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(username__startswith="bench-derm-").delete()
    if ok:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs kept in {tmp}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
