"""gunicorn settings of the web container (Dockerfile, docker-compose.yml): ``gunicorn -c webapp/gunicorn_conf.py
webapp.wsgi:application``.

gthread workers, as ``benchmarks/bench_review_load.py`` measured under the review load (20 reviewers, durable
PostgreSQL, 2 cores): 3 sync workers gave claim-next p50 690 / p95 1468 ms, 5 sync workers 422 / 916, 3 gthread
workers x 4 threads 142 / 704 at equal CPU per request. A sync worker is idle while its one request waits on
PostgreSQL (an fsync'd commit), Redis or the network, and holds no keep-alive connection; a thread of a gthread
worker hands the process to another request meanwhile. Several processes, because Python runs one thread at a
time per process (the GIL): 3 (two cores, and one process to run while another waits) unless ``WEB_CONCURRENCY``
(gunicorn's own variable) says otherwise; ``GUNICORN_THREADS`` sets the threads of each (4).

Every setting here can still be overridden on the command line or with ``GUNICORN_CMD_ARGS``.
"""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY") or 3)
threads = int(os.environ.get("GUNICORN_THREADS") or 4)
# A long request (an import, a bulk action, an export) may take a while; the healthcheck finds a hung worker.
timeout = 120
# Keep-alive connections, like a browser's (the review page polls every second): idle ones wait in the
# worker's poller, not in a thread. A proxy in front usually keeps its upstream connections longer than 2 s.
keepalive = 5
# Room for a burst of connections (20 reviewers pressing "next" together) while every thread is busy.
backlog = 2048
