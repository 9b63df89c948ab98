#!/usr/bin/env python3
"""The whole chain a clinic runs, as its users run it: import → drafting run → review (edit and accept,
override with a reason, reject with each reason) → snapshots for both stages → an evaluation run →
dermatologists overrule a verdict. Real parts only: a real Celery worker process, the project's local
OpenAI-compatible server, and either the embedded default (SQLite + the filesystem broker, as ``bin/run``)
or PostgreSQL + Redis.

    .venv/bin/python scripts/journey.py --backend embedded|services

Every step goes through the product's own HTTP API (Django's test client, real views and middleware)
except building the snapshot files, which the gpu task does through the same service. It stops at the
first broken promise with a message saying which; the last line is JSON with what it saw.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

# Thirteen images: six the machine drafts consistently at once, seven it never does (they go to the
# experts). The journey decides six of those by hand — an accepted edit, an override, and each rejection
# reason, in the training and in the test split — and leaves one undecided (inconsistent).
LABELS = ["melanoma", "psoriasis", "tinea corporis", "scabies", "melanoma", "psoriasis",
          "acne vulgaris", "psoriasis", "melanoma", "scabies", "tinea corporis", "acne vulgaris", "scabies"]
NEVER_CONSISTENT = {6, 7, 8, 9, 10, 11, 12}


class Failed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


class JourneyResponder:
    """The LLM for every role: the drafting pipeline's scripted responder, plus a diagnoser for the
    evaluation run that names each image's own label first (so the report has something to count)."""

    def __init__(self, scripts: dict, labels_by_md5: dict[str, str]) -> None:
        from annotations.tests.scripted_llm import PipelineResponder

        self.pipeline = PipelineResponder(scripts)
        self.labels_by_md5 = labels_by_md5
        self.evaluation_calls = 0

    def __call__(self, request: dict):
        messages = request["messages"]
        last = messages[-1]["content"]
        system = next((m["content"] for m in messages if m["role"] == "system"), "")
        images = [p for p in last if isinstance(p, dict) and p.get("type") == "image_url"] if isinstance(last, list) else []
        if images and "teaching atlas" not in system:
            data = base64.b64decode(images[0]["image_url"]["url"].split(",", 1)[1])
            label = self.labels_by_md5.get(hashlib.md5(data).hexdigest(), "eczema")
            self.evaluation_calls += 1
            names = [label, "eczema", "contact dermatitis", "urticaria", "rosacea", "vitiligo"]
            items = [{"disease": n, "probability": round(0.9 / (i + 1), 2), "key_matching_fields": ["color"],
                      "brief_reason": "matches"} for i, n in enumerate(names)]
            return f"<think>looking</think><answer>{json.dumps({'top6_diseases': items})}</answer>"
        return self.pipeline(request)


class Journey:
    def __init__(self, backend: str, root: Path) -> None:
        self.backend, self.root = backend, root
        os.chmod(root, 0o755)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("DATABASE_URL", "CELERY_", "SKINFLOW_", "DJANGO_"))}
        env.update(DJANGO_SETTINGS_MODULE="webapp.settings",
                   DJANGO_SECRET_KEY="journey-only-secret-key-not-for-production-0123456789abcdef",  # 50+ chars
                   SKINFLOW_DATA_DIR=str(root / "data"), SKINFLOW_LOG_LEVEL="WARNING",
                   # the scripted LLM server listens on loopback at a port chosen later (webapp/egress.py)
                   SKINFLOW_ALLOWED_ENDPOINT_HOSTS="127.0.0.1")
        self.servers = []
        if backend == "services":
            from with_services import PostgresServer, RedisServer

            pg, redis = PostgresServer(root), RedisServer(root)
            self.servers = [redis, pg]
            env.update(DATABASE_URL=pg.url, CELERY_BROKER_URL=redis.url)
        self.env = env
        self.worker: subprocess.Popen | None = None
        os.environ.clear()
        os.environ.update(env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.seen: dict = {"backend": backend}

    # -- plumbing ------------------------------------------------------------------------------------------

    def start_worker(self) -> None:
        log = open(self.root / "worker.log", "wb")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "webapp.celery_app", "worker", "-Q", "default,llm,gpu",
             "-P", "threads", "-c", "4", "--without-gossip", "--without-mingle", "--loglevel", "WARNING"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def close(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait()
        from django.db import connections

        for conn in connections.all():
            conn.close()
        for server in self.servers:
            server.stop()

    def client(self, user):
        from django.test import Client

        c = Client(HTTP_HOST="127.0.0.1")
        c.force_login(user)
        return c

    @staticmethod
    def call(client, method: str, url: str, body: dict | None = None, expect: int | tuple = 200):
        response = getattr(client, method)(url, json.dumps(body or {}), content_type="application/json") \
            if method != "get" else client.get(url)
        wanted = expect if isinstance(expect, tuple) else (expect,)
        check(response.status_code in wanted,
              f"{method.upper()} {url} answered {response.status_code}, wanted {wanted}: {response.content[:400]!r}")
        if not response.get("Content-Type", "").startswith("application/json"):
            return None
        return response.json()

    def wait(self, what, timeout_s: float, message: str):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = what()
            if value:
                return value
            time.sleep(0.3)
        worker_log = (self.root / "worker.log").read_text(errors="replace")[-3000:]
        raise Failed(f"{message} (waited {timeout_s:.0f} s)\n--- worker log ---\n{worker_log}")

    # -- the journey ---------------------------------------------------------------------------------------

    def run(self) -> dict:
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from annotations.models import Dataset, Sample
        from annotations.tests.images import jpeg_bytes, write
        from annotations.tests.scripted_llm import Script, caption_json
        from webapp.llm_testserver import ScriptedLLMServer
        from webapp.roles import ADMIN, DERMATOLOGIST, grant_role

        users = get_user_model().objects
        admin = users.create_user("journey-admin", password="a long journey password")
        grant_role(admin, ADMIN)
        derm_a = users.create_user("derm-a", password="a long journey password")
        derm_b = users.create_user("derm-b", password="a long journey password")
        for d in (derm_a, derm_b):
            grant_role(d, DERMATOLOGIST)
        admin_c, a, b = self.client(admin), self.client(derm_a), self.client(derm_b)

        # 1. Import a folder of labelled images.
        scripts, labels_by_md5 = {}, {}
        for i, label in enumerate(LABELS):
            data = jpeg_bytes(color=(20 * i, 200 - 15 * i, 90), size=(48 + i, 40))
            write(self.root / "src" / label / f"{i}.jpg", data)
            md5 = hashlib.md5(data).hexdigest()
            scripts[md5] = (f"{label}/{i}.jpg", Script(label, None if i in NEVER_CONSISTENT else 1))
            labels_by_md5[md5] = label
        call_command("import_folder", "Journey", "--folder", str(self.root / "src"), verbosity=0)
        dataset = Dataset.objects.get(name="Journey")
        by_index = {int(Path(s.external_id).stem): s for s in Sample.objects.filter(dataset=dataset)}
        check(len(by_index) == len(LABELS), f"imported {len(by_index)} samples, expected {len(LABELS)}")

        responder = JourneyResponder(scripts, labels_by_md5)
        with ScriptedLLMServer(responder, latency_s=0.02) as server:
            self.env["SKINFLOW_LLM_BASE_URL"] = os.environ["SKINFLOW_LLM_BASE_URL"] = server.base_url
            from django.conf import settings

            settings.SKINFLOW_LLM_BASE_URL = server.base_url
            self.start_worker()
            self.drafting(admin_c, dataset, by_index)
            self.review(admin_c, a, b, dataset, by_index, responder, caption_json)
            self.snapshots(dataset, by_index)
            self.evaluation(admin_c, a, b, dataset, by_index, server)
        return self.seen

    def drafting(self, admin_c, dataset, by_index) -> None:
        from annotations.models import Sample

        run = self.call(admin_c, "post", "/api/drafting-runs/", {"dataset": dataset.pk}, expect=201)
        done = self.wait(lambda: (lambda r: r if r["state"] not in ("queued", "running") else None)(
            self.call(admin_c, "get", f"/api/drafting-runs/{run['id']}/")), 180, "the drafting run never ended")
        p = done["progress"]
        check(done["state"] == "succeeded", f"drafting run ended {done['state']}, expected succeeded")
        expected = (len(LABELS), len(LABELS) - len(NEVER_CONSISTENT), len(NEVER_CONSISTENT), 0)
        check((p["total"], p["accepted"], p["needs_expert"], p["failed"]) == expected,
              f"drafting counts {p} != total/accepted/needs_expert/failed {expected}")
        states = {i: Sample.objects.get(pk=s.pk).state for i, s in by_index.items()}
        check(all(states[i] == ("needs_expert" if i in NEVER_CONSISTENT else "auto_accepted") for i in states),
              f"sample states after drafting: {states}")
        self.seen["drafting"] = {"state": done["state"], "progress": {k: p[k] for k in ("total", "accepted",
                                                                                           "needs_expert", "failed")}}

    def review(self, admin_c, a, b, dataset, by_index, responder, caption_json) -> None:
        from annotations.models import Sample

        index_of = {s.pk: i for i, s in by_index.items()}

        def claim(client) -> int:
            got = self.call(client, "post", "/api/review/samples/next/", {"dataset": dataset.pk})
            check(got is not None and got["state"] == "needs_expert", f"next served {got}")
            return index_of[got["id"]]

        def save(client, index, token_ok: bool, tag: str):
            sample = Sample.objects.get(pk=by_index[index].pk)
            responder.pipeline.revisions[tag] = token_ok
            responder.pipeline.labels[tag] = sample.label
            caption = json.loads(caption_json(f"[[{tag}#1]]"))
            revision = self.call(client, "post", f"/api/review/samples/{sample.pk}/revisions/",
                                 {"caption": caption, "base_version": sample.caption_version}, expect=201)
            return self.wait(lambda: (lambda r: r if r["check_state"] != "pending" else None)(
                self.call(client, "get", f"/api/review/revisions/{revision['id']}/")), 60, "the re-check never ran")

        # Without a claim, a rejection is refused and changes nothing.
        first_waiting = min(i for i in NEVER_CONSISTENT)
        self.call(b, "post", f"/api/review/samples/{by_index[first_waiting].pk}/reject/", {"reason": "unusable_image"},
                  expect=409)
        # The review page's "next" is a POST: a plain GET claims nothing.
        check(a.get(f"/review/next/?dataset={dataset.pk}").status_code == 200, "GET /review/next/")
        check(not Sample.objects.filter(dataset=dataset, claimed_by__isnull=False).exists(), "a GET claimed a sample")

        # Edit and accept: the re-check agrees, the sample is expert_accepted.
        edit_ok = claim(a)
        self.call(b, "post", f"/api/review/samples/{by_index[edit_ok].pk}/revisions/",
                  {"caption": json.loads(caption_json("x")), "base_version": 0}, expect=409)  # a's claim
        check(save(a, edit_ok, True, "rev-edit")["check_state"] == "consistent", "the edited caption re-check")
        # Override with a reason: the re-check disagrees, the dermatologist accepts anyway.
        override = claim(a)
        check(save(a, override, False, "rev-override")["check_state"] == "inconsistent", "the override re-check")
        version = Sample.objects.get(pk=by_index[override].pk).caption_version
        self.call(a, "post", f"/api/review/samples/{by_index[override].pk}/override/",
                  {"version": version, "reason": ""}, expect=400)
        self.call(a, "post", f"/api/review/samples/{by_index[override].pk}/override/",
                  {"version": version, "reason": "biopsy-proven; the photo under-represents the scale"})
        # Reject with each reason.
        wrong_label = claim(a)
        self.call(a, "post", f"/api/review/samples/{by_index[wrong_label].pk}/reject/",
                  {"reason": "label_suspected_wrong", "note": "looks like tinea"})
        bad_image = claim(b)
        self.call(b, "post", f"/api/review/samples/{by_index[bad_image].pk}/reject/", {"reason": "unusable_image"})
        more = []
        for reason, note in (("label_suspected_wrong", "not scabies"), ("other", "duplicate of another photo")):
            more.append(claim(a))
            self.call(a, "post", f"/api/review/samples/{by_index[more[-1]].pk}/reject/", {"reason": reason,
                                                                                       "note": note})
        # Rejected samples are read-only.
        self.call(a, "post", f"/api/review/samples/{by_index[wrong_label].pk}/revisions/",
                  {"caption": json.loads(caption_json("x")), "base_version": 0}, expect=409)
        # One sample stays undecided: its drafts are inconsistent, so it must stay out of Stage I. Taking it
        # and closing the page (the beacon's release) leaves it free for the next reviewer.
        undecided = claim(a)
        self.call(a, "post", f"/api/review/samples/{by_index[undecided].pk}/release/", expect=204)
        check(self.call(b, "post", "/api/review/samples/next/", {"dataset": dataset.pk})["id"] == by_index[undecided].pk,
              "a released sample was not offered to the next reviewer")
        self.call(b, "post", f"/api/review/samples/{by_index[undecided].pk}/release/", expect=204)
        # Bulk accept never takes an inconsistent draft.
        ids = [s.pk for s in by_index.values()]
        preview = self.call(admin_c, "post", "/api/review/samples/bulk-accept/", {"sample_ids": ids, "dry_run": True})
        check(preview["accepted"] == 0, f"bulk accept would take {preview['accepted']} sample(s)")
        states = {i: Sample.objects.get(pk=s.pk).state for i, s in by_index.items()}
        want = {edit_ok: "expert_accepted", override: "expert_override", wrong_label: "rejected",
                bad_image: "rejected", undecided: "needs_expert", **{i: "rejected" for i in more}}
        check(all(states[i] == w for i, w in want.items()), f"states after review: {states}, wanted {want}")
        self.seen["review"] = {"states": {LABELS[i] + f"#{i}": states[i] for i in sorted(states)}}
        self.decided = {"edit_ok": edit_ok, "override": override, "wrong_label": wrong_label, "bad_image": bad_image,
                        "rejected_in_train": more, "undecided": undecided}

    def snapshots(self, dataset, by_index) -> None:
        from training import services as training

        from annotations.models import Sample

        d = self.decided
        # A fixed split, so the checks know where each sample lands (imports hash ids into splits): the test
        # split holds two auto-accepted samples and one rejection per reason; the other rejections train.
        self.test_split = {0, 1, d["wrong_label"], d["bad_image"]}
        for i, sample in by_index.items():
            Sample.objects.filter(pk=sample.pk).update(split="test" if i in self.test_split else "train")
        train = {i for i in by_index if i not in self.test_split}
        pk = {i: s.pk for i, s in by_index.items()}
        accepted = {i for i in train if i not in NEVER_CONSISTENT} | ({d["edit_ok"], d["override"]} & train)
        stage1 = training.create_snapshot(dataset, "train", "I")
        manifest1 = json.loads((Path(stage1.path) / "manifest.json").read_text())
        check(set(manifest1["sample_ids"]) == {pk[i] for i in accepted},
              f"Stage I snapshot holds {sorted(manifest1['sample_ids'])}, expected {sorted(pk[i] for i in accepted)}")
        check(manifest1.get("overrides") == [pk[d["override"]]], f"Stage I overrides: {manifest1.get('overrides')}")
        stage2 = training.create_snapshot(dataset, "train", "II")
        manifest2 = json.loads((Path(stage2.path) / "manifest.json").read_text())
        check(pk[d["undecided"]] not in manifest1["sample_ids"], "an inconsistent draft reached the Stage I snapshot")
        rejected = {pk[i] for i in d["rejected_in_train"]}
        check(rejected and rejected <= {pk[i] for i in train}, "the journey must reject training samples too")
        check(set(manifest2["sample_ids"]) == {pk[i] for i in train} - rejected,
              f"Stage II snapshot holds {sorted(manifest2['sample_ids'])}")
        self.seen["snapshots"] = {"stage1": len(manifest1["sample_ids"]), "stage1_overrides": manifest1.get("overrides"),
                                  "stage2": len(manifest2["sample_ids"])}

    def evaluation(self, admin_c, a, b, dataset, by_index, server) -> None:
        from evaluation.models import EvalItem

        d = self.decided
        body = {"name": "journey eval", "model_name": "journey $model 'v1'", "dataset": dataset.pk, "split": "test",
                "base_url": server.base_url, "endpoint_model": "scripted", "k": 6, "judge_repeats": 1}
        run = self.call(admin_c, "post", "/api/eval-runs/", body, expect=201)
        done = self.wait(lambda: (lambda r: r if r["status"] in ("done", "failed", "partially_failed") else None)(
            self.call(admin_c, "get", f"/api/eval-runs/{run['id']}/")), 180, "the evaluation run never ended")
        check(done["status"] == "done", f"evaluation run ended {done['status']}: {done['error']}")
        items = list(EvalItem.objects.filter(run_id=run["id"]).values_list("sample_id", flat=True))
        test = {by_index[i].pk for i in self.test_split}
        rejected = {by_index[d["wrong_label"]].pk, by_index[d["bad_image"]].pk}
        check(set(items) == test - rejected, f"evaluation items {sorted(items)}, expected {sorted(test - rejected)}")
        top1 = done["metrics"]["top_k"][0] if isinstance(done["metrics"].get("top_k"), list) else None
        # Two dermatologists overrule the first prediction of one item; the latest standing verdict counts.
        item = EvalItem.objects.filter(run_id=run["id"]).order_by("position").first()
        for client, category in ((a, "sibling"), (b, "unrelated")):
            response = client.post(f"/evaluation/items/{item.pk}/overrule/", {"rank": 1, "category": category,
                                                                             "note": "the photo says otherwise"})
            check(response.status_code == 302, f"overrule answered {response.status_code}")
        log = self.call(a, "get", f"/api/eval-runs/{run['id']}/overrules/")
        check(len(log) == 2 and {e["user"] for e in log} == {"derm-a", "derm-b"}, f"overrule log {log}")
        after = self.call(a, "get", f"/api/eval-runs/{run['id']}/")
        top1_after = after["metrics"]["top_k"][0] if isinstance(after["metrics"].get("top_k"), list) else None
        check(top1 is not None and top1_after is not None and top1_after < top1,
              f"Top-1 did not drop after the overrule: {top1} -> {top1_after}")
        page = a.get(f"/evaluation/runs/{run['id']}/")
        check(page.status_code == 200, f"the evaluation run page answered {page.status_code}")
        self.seen["evaluation"] = {"items": len(items), "top1": top1, "top1_after_overrule": top1_after,
                                   "overrules": len(log)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("embedded", "services"), default="embedded")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("journey stopped by SIGTERM"))
    with tempfile.TemporaryDirectory(prefix="skinflow-journey-") as tmp:
        journey = Journey(args.backend, Path(tmp))
        started = time.monotonic()
        try:
            seen = journey.run()
        except Failed as exc:
            print(f"JOURNEY FAILED ({args.backend}): {exc}", flush=True)
            return 1
        finally:
            journey.close()
    seen["seconds"] = round(time.monotonic() - started, 1)
    print(f"journey on {args.backend}: every step held ({seen['seconds']} s)")
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
