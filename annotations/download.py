"""Fetching dataset images from their URLs (pure Python): a bounded thread pool, resume, checksum check.

Files land as ``<dest>/<md5>.<ext>``; a file already there whose bytes hash to its md5 is not fetched
again, so an interrupted download resumes where it stopped. Bytes go to a ``.part`` file first and are
renamed only once complete and verified.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

USER_AGENT = "SkinFlowStudio/0.1 (dataset import)"


@dataclass
class DownloadReport:
    downloaded: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (md5, reason)


def existing_image(dest: Path, md5: str) -> Path | None:
    for path in dest.glob(f"{md5}.*"):
        if path.suffix != ".part" and path.is_file():
            return path
    return None


def _md5_file(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _fetch(url: str, timeout: float, retries: int) -> bytes:
    delay = 0.5
    for attempt in range(retries + 1):
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code < 500 and exc.code != 429 or attempt == retries:
                raise
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            if attempt == retries:
                raise
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def _download_one(md5: str, url: str, dest: Path, verify: bool, timeout: float, retries: int) -> str:
    """Returns "skipped" or "downloaded"; raises with a readable reason otherwise."""
    have = existing_image(dest, md5)
    if have is not None and (not verify or _md5_file(have) == md5):
        return "skipped"
    data = _fetch(url, timeout, retries)
    if verify:
        got = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if got != md5:
            raise ValueError(f"checksum mismatch: the server sent bytes with md5 {got}")
    suffix = Path(url.split("?")[0]).suffix.lower() or ".jpg"
    part = dest / f"{md5}{suffix}.part"
    part.write_bytes(data)
    os.replace(part, dest / f"{md5}{suffix}")
    return "downloaded"


def download_images(items: Iterable[tuple[str, str]], dest: str | Path, *, workers: int = 8,
                    verify: bool = True, timeout: float = 30.0, retries: int = 2,
                    progress: bool = True) -> DownloadReport:
    """Download ``(md5, url)`` pairs into ``dest``. Rows without a URL are reported as failed."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    report = DownloadReport()
    todo = []
    for md5, url in items:
        if not url:
            report.failed.append((md5, "no URL in the CSV"))
        else:
            todo.append((md5, url))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(todo), desc="downloading images", unit="img", disable=not progress) as bar:
        futures = {pool.submit(_download_one, md5, url, dest, verify, timeout, retries): md5 for md5, url in todo}
        for fut in as_completed(futures):
            md5 = futures[fut]
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - every failure is reported per row, never fatal
                report.failed.append((md5, f"{type(exc).__name__}: {exc}"))
            else:
                if outcome == "skipped":
                    report.skipped += 1
                else:
                    report.downloaded += 1
            bar.update(1)
    return report
