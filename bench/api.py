"""Response time of the REST API's case list and case detail with 10,000 cases on PostgreSQL.

    .venv/bin/python bench/api.py [--cases 10000] [--runs 60] [--database-url postgres://...]

Seeds its own throw-away PostgreSQL database (default ``oncoportal_bench_api``,
created if missing and emptied first) the way ``bench/worklist.py`` does (its
seeding is imported, not copied): a large site with ``--cases`` cases and a
small site with 50. Then calls the API through Django's test client with a
bearer token of a radiologist of each site, DEBUG off, and prints p50/p95 in
milliseconds, the SQL query count of each call, and the ratio large/small that
shows whether a call's cost grows with the number of cases. "page 100" is
reached by following ``next`` (keyset cursors), as a client would.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.worklist import SMALL, django_on_fresh_postgres, seed_two_sites  # noqa: E402  (after the path is set)

if TYPE_CHECKING:
    from django.test import Client

DEFAULT_URL = "postgres://postgres@localhost:5432/oncoportal_bench_api"
DEEP_PAGE = 100


def _time(client: Client, url: str, runs: int) -> tuple[float, float, int, int]:
    """p50 and p95 in ms, the query count of one call, and its status (the caller reports a non-200)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm caches and connections
        status = client.get(url).status_code
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        status = response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, len(queries), status


def _deep(client: Client, url: str, pages: int) -> str:
    """The URL of page ``pages`` (1-based) reached through ``next``; the last page if there are fewer."""
    for _ in range(pages - 1):
        response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        following = response.json()["next"]
        if following is None:
            break
        url = following
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases of the large site (default 10000)")
    parser.add_argument("--runs", type=int, default=60, help="timed requests per call (default 60)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if not django_on_fresh_postgres(args.database_url, script="bench/api.py"):
        return 2
    import logging

    # A missing endpoint's 404s are reported once in the table, not logged per call.
    logging.getLogger("django.request").setLevel(logging.ERROR)
    from django.contrib.auth.models import Group
    from django.test import Client

    from api.services.tokens import token_create
    from cases.models import Role, Site, User

    def _client(username: str, site: Site) -> tuple[User, Client]:
        user = User.objects.create_user(username=username, password="bench-password-1", site=site)
        user.groups.add(Group.objects.get(name=Role.RADIOLOGIST))
        # A rate far above the bench's calls: the throttle's bookkeeping is timed, its 429s are not.
        token = token_create(
            user=user, name="bench", scopes="read", expires_in=timedelta(days=1), rate_per_minute=1_000_000
        )
        return user, Client(HTTP_AUTHORIZATION=f"Bearer {token.value}")

    (_, big_client), (_, small_client), big_ids, small_ids = seed_two_sites(
        args.database_url, args.cases, _client
    )

    calls = [
        ("GET cases/ (default: findings first)", "/api/v1/cases/"),
        ("GET cases/?order=uncertainty", "/api/v1/cases/?order=uncertainty"),
        ("GET cases/?order=waiting", "/api/v1/cases/?order=waiting"),
        ("GET cases/?ai_label=glioma&status=predicted", "/api/v1/cases/?ai_label=glioma&status=predicted"),
        ("GET cases/?finding=glioma (EXISTS)", "/api/v1/cases/?finding=glioma"),
        (f"GET cases/ page {DEEP_PAGE} via cursor", "deep:/api/v1/cases/"),
        (f"GET cases/?order=waiting page {DEEP_PAGE}", "deep:/api/v1/cases/?order=waiting"),
        ("GET cases/{id}/", "/api/v1/cases/{case}/"),
        ("GET studies/", "/api/v1/studies/"),
    ]
    big_name = f"{args.cases // 1000}k" if args.cases >= 1000 else str(args.cases)
    print(
        f"\n{'call':46} {big_name + ' p50':>9} {big_name + ' p95':>9} {str(SMALL) + ' p50':>8} "
        f"{'ratio':>6} {'queries':>8}"
    )
    worst = 0.0
    for name, template in calls:
        results = []
        for client, ids in ((big_client, big_ids), (small_client, small_ids)):
            url = template.format(case=ids[len(ids) // 2])
            if url.startswith("deep:"):
                url = _deep(client, f"http://testserver{url[5:]}", DEEP_PAGE)  # the small site: its one page
            results.append(_time(client, url, args.runs))
        (p50, p95, queries, status), (s50, _, s_queries, s_status) = results
        note = "" if status == s_status == 200 else f"  missing (HTTP {status}/{s_status})"
        if not note:
            worst = max(worst, p95)
        print(
            f"{name:46} {p50:9.1f} {p95:9.1f} {s50:8.1f} {p50 / s50:6.2f} {queries:4d}/{s_queries:<3d}{note}"
        )
    print(
        f"\nworst p95 {worst:.1f} ms (goal 150 ms); ratio = p50 with {args.cases} cases / p50 with "
        f"{SMALL} cases (same page size); queries = large/small site"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
