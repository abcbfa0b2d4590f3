"""Benchmark: many concurrent crowd raters against a real server (production web tier, PostgreSQL).

Each simulated rater opens a Prolific link, consents, starts, and for every clip of its session
loads the trial page, reports the clip's play, watches it for a think time drawn uniformly from
--think MIN MAX seconds (none by default: raters answer as fast as the server lets them), reports
its end as the player does, and posts its answers, which redirects to the next clip (a share of
posts is sent twice, as a double click would). With --no-plays the study neither limits nor
requires plays and no play reports are sent: the figures of the rating path alone. Afterwards the
database is compared with what the raters meant to store. Prints throughput, p50/p95 latency and
the counts of lost, duplicated and altered responses, and the server processes' CPU time per
request; the last line is one JSON object: raters, p50_ms and p95_ms (answer posts), answers_per_s
(stored responses, one per clip and question, per second of wall time), lost, duplicated, altered,
web_processes.

    .venv/bin/python bench/annotation.py [--raters 200] [--clips 50] [--questions 2]
        [--think MIN MAX] [--web-processes 2] [--server gunicorn|uvicorn] [--threads 8]
        [--no-plays]

Needs PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres) and Redis on 127.0.0.1:6379 (db 12
holds the rate-limit counts, shared by the processes as in production); makes and drops its own
database. The server is Django as docker-compose runs it: gunicorn's gthread workers on
webapp.wsgi (persistent connections, one per thread), or, with --server uvicorn, the ASGI app
under uvicorn workers (Django's psycopg pool). Every rater comes from 127.0.0.1, so the bench sets
the rate limits far above its own rates: they are counted, as in production, but never refuse.
Clip files are not streamed (stimuli have no media): the figures are those of the rating API.
"""

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
from site_database import fresh_site_database, site_environment  # bench/site_database.py

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "synclab_bench_annotation"
SLUG = "bench"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure(server: str) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="synclab-bench-annotation-"))
    database = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    env = {
        # gunicorn's threads live as long as their process: each keeps its connection. Under
        # ASGI every request runs its sync code in a thread of its own: persistent connections
        # would open one per thread, past max_connections with 200 raters, so Django's psycopg
        # pool (`?pool=true`, 4 connections) bounds them instead.
        "DATABASE_URL": database if server == "gunicorn" else f"{database}?pool=true",
        "DATABASE_CONN_MAX_AGE": "60" if server == "gunicorn" else "0",
        "SYNCLAB_CACHE_URL": "redis://127.0.0.1:6379/12",
        "SYNCLAB_RATE_RATER_SESSION": "100000/m",
        "SYNCLAB_RATE_RATER_IP": "10000000/m",
        **site_environment(tmp),
    }
    fresh_site_database(DB_NAME, env)
    from django.core.cache import cache

    cache.clear()
    return {**os.environ, **env}


def make_study(raters: int, clips: int, questions: int, systems: int, plays: bool):
    """A study whose blocks hold exactly `raters` sessions of `clips` clips each."""
    from annotation import services

    utterances = clips * 2  # two chunks per Latin-square rotation
    blocks = systems * 2
    study = services.study_create(
        slug=SLUG,
        title="Bench",
        platform="prolific",
        stimuli_per_session=clips,
        votes_per_stimulus=-(-raters // blocks),
        questions=[{"key": f"q{i}", "prompt": f"Question {i}"} for i in range(questions)],
        max_plays=3 if plays else 0,
        require_played_to_end=plays,
    )
    for s in range(systems):
        for u in range(utterances):
            services.stimulus_add(study=study, path=None, system=f"s{s}", utterance_id=f"u{u}")
    return study


class Rater:
    """One simulated participant with its own cookies; records what it meant to answer."""

    def __init__(self, base: str, index: int, args, stats):
        self.client = httpx.AsyncClient(base_url=base, timeout=120, follow_redirects=False)
        self.pid = f"bench-{index:05d}"
        self.questions = args.questions
        self.plays = not args.no_plays
        self.double_rate = args.double_rate
        self.think = args.think
        self.rng = random.Random(index)
        self.stats = stats
        self.intended = {}  # clip token -> {question: value}

    async def request(self, method: str, url: str, kind: str, **kwargs) -> httpx.Response:
        start = time.perf_counter()
        response = await self.client.request(method, url, **kwargs)
        self.stats["latency"][kind].append(time.perf_counter() - start)
        if response.status_code >= 400:
            self.stats["errors"][f"{kind} {response.status_code}"] += 1
        return response

    async def post(self, url: str, kind: str, data: dict) -> httpx.Response:
        data = {**data, "csrfmiddlewaretoken": self.client.cookies["csrftoken"]}
        return await self.request("POST", url, kind, data=data)

    async def run(self) -> None:
        try:
            await self.request(
                "GET", f"/study/{SLUG}/?PROLIFIC_PID={self.pid}&SESSION_ID=x", "entry"
            )
            location = (await self.post(f"/study/{SLUG}/", "consent", {"consent": "yes"})).headers[
                "location"
            ]
            await self.request("GET", location, "redirect")  # to the instructions
            await self.post(f"{location}instructions/", "start", {})
            target = (await self.request("GET", location, "redirect")).headers["location"]
            while not target.endswith("/done/"):
                if "/clip/" not in target:  # the session page, which points onwards
                    target = (await self.request("GET", target, "redirect")).headers["location"]
                    continue
                await self.request("GET", target, "page")
                target = await self.answer(target)
            await self.request("GET", target, "page")
        finally:
            await self.client.aclose()

    async def answer(self, url: str) -> str:
        token = re.search(r"/clip/([^/]+)/", url)[1]
        values = {f"q{i}": self.rng.randint(1, 5) for i in range(self.questions)}
        self.intended[token] = values
        if self.plays:
            await self.post(f"{url}play/", "play", {"event": "play"})
        if self.think:  # watching the clip (the bench's clips have no media of their own)
            await asyncio.sleep(self.rng.uniform(*self.think))
        if self.plays:
            await self.post(f"{url}play/", "play", {"event": "ended"})
        form = {**values, "time_on_item_s": 3.2}
        response = await self.post(url, "answer", form)
        if self.rng.random() < self.double_rate:
            self.stats["double_posts"] += 1
            response = await self.post(url, "answer", form)
        return response.headers["location"]  # the next clip, or the end


def verify(raters: list[Rater]) -> dict:
    """Compare the stored responses with what every rater meant to store."""
    from django.db.models import Count

    from annotation.models import Response, SessionItem

    stored = defaultdict(dict)
    rows = Response.objects.filter(session__study__slug=SLUG).values_list(
        "session_id", "stimulus_id", "question__key", "value"
    )
    for session, stimulus, key, value in rows:
        stored[(session, stimulus)][key] = value
    items = dict(
        (
            (t, (s, st))
            for t, s, st in SessionItem.objects.values_list("token", "session", "stimulus")
        )
    )
    intended = {items[t]: v for r in raters for t, v in r.intended.items()}
    lost = sum(1 for key, v in intended.items() for q in v if q not in stored.get(key, {}))
    altered = sum(
        1
        for key, v in intended.items()
        for q, x in v.items()
        if stored.get(key, {}).get(q) not in (None, x)
    )
    duplicated = (
        Response.objects.values("session", "stimulus", "question")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    return {
        "intended": sum(len(v) for v in intended.values()),
        "stored": sum(len(v) for v in stored.values()),
        "lost": lost,
        "duplicated": duplicated,
        "altered": altered,
    }


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of the server process and its worker processes (Linux
    /proc). On a shared machine the server's CPU per request is steadier than its throughput."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that ended meanwhile
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):  # itself or a child
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def pct(values, q):
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def drive(base: str, args) -> tuple[list[Rater], dict, float]:
    stats = {"latency": defaultdict(list), "errors": defaultdict(int), "double_posts": 0}
    raters = [Rater(base, i, args, stats) for i in range(args.raters)]
    start = time.perf_counter()
    results = await asyncio.gather(*(r.run() for r in raters), return_exceptions=True)
    elapsed = time.perf_counter() - start
    stats["failed_raters"] = [repr(e) for e in results if isinstance(e, BaseException)]
    return raters, stats, elapsed


def wait_ready(base: str, server: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited during start-up")
        try:
            httpx.get(f"{base}/study/dashboard/", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.5)
    raise SystemExit("the server did not answer in time")


def report(args, raters, stats, elapsed, check) -> None:
    latency = stats["latency"]
    every = [x for values in latency.values() for x in values]
    threads = f" x{args.threads} threads" if args.server == "gunicorn" else ""
    think = f", think {args.think[0]:g}-{args.think[1]:g} s" if args.think else ", no think time"
    print(
        f"server: {args.server} x{args.web_processes} process(es){threads}, PostgreSQL; "
        f"{args.raters} raters, {args.clips} clips x {args.questions} questions each"
        f"{'' if args.no_plays else ', play reports on'}{think}; "
        f"load average {os.getloadavg()[0]:.2f} at the end"
    )
    print(
        f"raters finished: {args.raters - len(stats['failed_raters'])}/{args.raters}; "
        f"double posts sent: {stats['double_posts']}"
    )
    for problem in stats["failed_raters"][:5]:
        print(f"  rater failed: {problem}")
    print(
        f"responses: intended {check['intended']}, stored {check['stored']}, "
        f"lost {check['lost']}, duplicated {check['duplicated']}, altered {check['altered']}"
    )
    print(
        f"wall time {elapsed:.1f} s: {check['stored'] / elapsed:.1f} responses/s, "
        f"{len(every) / elapsed:.1f} requests/s ({len(every)} requests)"
    )
    cpu = stats["server_cpu_s"]
    print(
        f"server CPU {cpu:.1f} s: {1000 * cpu / len(every):.2f} ms per request, "
        f"{1000 * cpu / check['stored']:.2f} ms per stored response"
    )
    for kind in ["answer", "play", "page", "redirect", "consent", "entry"]:
        if len(latency[kind]) >= 2:
            print(
                f"  {kind:8s} n={len(latency[kind]):6d}  p50 {pct(latency[kind], 50):7.1f} ms  "
                f"p95 {pct(latency[kind], 95):7.1f} ms  max {max(latency[kind]) * 1000:7.1f} ms"
            )
    print(f"HTTP errors: {dict(stats['errors']) or 'none'}")
    answers = latency["answer"]
    summary = {
        "raters": args.raters,
        "p50_ms": round(pct(answers, 50), 1),
        "p95_ms": round(pct(answers, 95), 1),
        "answers_per_s": round(check["stored"] / elapsed, 1),
        "lost": check["lost"],
        "duplicated": check["duplicated"],
        "altered": check["altered"],
        "web_processes": args.web_processes,
    }
    print(json.dumps(summary))


def server_command(args, port: int) -> list[str]:
    if args.server == "gunicorn":
        return [
            sys.executable, "-m", "gunicorn", "webapp.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(args.web_processes),
            "--worker-class", "gthread", "--threads", str(args.threads),
            # Longer than a client's idle keep-alive (nginx keeps upstream connections 60 s):
            # with gunicorn's 2 s, a request sent as the server closes the idle connection is lost.
            "--keep-alive", "75", "--log-level", "warning", "--no-control-socket",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "uvicorn", "webapp.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.web_processes),
        "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raters", type=int, default=200)
    parser.add_argument("--clips", type=int, default=50, help="clips per session")
    parser.add_argument("--questions", type=int, default=2, help="rating questions per clip")
    parser.add_argument("--systems", type=int, default=4)
    parser.add_argument(
        "--double-rate", type=float, default=0.05, help="share of answers posted twice"
    )
    parser.add_argument(
        "--think",
        nargs=2,
        type=float,
        metavar=("MIN", "MAX"),
        help="seconds a rater watches each clip before answering, drawn uniformly",
    )
    parser.add_argument("--web-processes", type=int, default=2, help="web server processes")
    parser.add_argument("--server", choices=["gunicorn", "uvicorn"], default="gunicorn")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn process")
    parser.add_argument(
        "--no-plays",
        action="store_true",
        help="a study without play limit or full-play rule, and no play reports",
    )
    args = parser.parse_args()
    env = configure(args.server)
    make_study(args.raters, args.clips, args.questions, args.systems, not args.no_plays)
    from django.db import connections

    connections.close_all()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(server_command(args, port), cwd=ROOT, env=env)
    try:
        wait_ready(base, server)
        cpu_before = server_cpu_seconds(server.pid)
        raters, stats, elapsed = asyncio.run(drive(base, args))
        stats["server_cpu_s"] = server_cpu_seconds(server.pid) - cpu_before
        report(args, raters, stats, elapsed, verify(raters))
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a starved server may not finish its graceful stop
            server.kill()
            server.wait()
        connections.close_all()
        connections["default"].close_pool()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB_NAME])


if __name__ == "__main__":
    main()
