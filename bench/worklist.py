"""Render time of the worklist and the case page with 10,000 cases on PostgreSQL.

    .venv/bin/python bench/worklist.py [--cases 10000] [--runs 60] [--database-url postgres://...]

Seeds a throw-away PostgreSQL database (default ``oncoportal_bench`` on
localhost, created if missing and emptied first) with ORM rows only: a large
site with ``--cases`` cases and a small site with 50 (one full page), each case with a study,
a series, an image, a finished prediction and, for a quarter of them, a
review. Then renders pages through Django's test client, as a logged-in
radiologist of each site, with DEBUG off (cached templates, as in
production), and prints p50/p95 in milliseconds and the SQL query count of
each page. The small site measured in the same run gives the ratio that shows
whether a page's cost grows with the number of cases.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # imported for real inside the functions, once Django is set up
    from django.test import Client

    from cases.models import Site, User
    from inference.models import ModelVersion

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DEFAULT_URL = "postgres://postgres@localhost:5432/oncoportal_bench"
PASSWORD = "bench-password-1"
T = TypeVar("T")
SMALL = 50  # one full worklist page: both sites render the same number of rows


def _ensure_database(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    from oncoportal.env import database_from_url

    cfg = database_from_url(url)
    conn = psycopg2.connect(
        dbname="postgres",
        user=cfg["USER"] or None,
        host=cfg["HOST"] or None,
        port=cfg["PORT"] or None,
        password=cfg["PASSWORD"] or None,
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if cur.fetchone():
            cur.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(str(cfg["NAME"]))))
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(str(cfg["NAME"]))))
    conn.close()


def django_on_fresh_postgres(url: str, *, script: str) -> bool:
    """Empty the bench database at ``url`` and set Django up on it, DEBUG off; False (and one line) if it cannot."""
    if not url.startswith("postgres"):
        print(f"{script}: --database-url must be a PostgreSQL URL", file=sys.stderr)
        return False
    # Before anything imports the oncoportal package: its Celery app loads the settings at import
    # (oncoportal/celery.py), and _ensure_database imports oncoportal.env. Set later, DATABASE_URL
    # was read too late and the bench ran on the embedded SQLite database.
    os.environ["DATABASE_URL"] = url
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("ONCOPORTAL_VAR_DIR", str(REPO / "var" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oncoportal.settings")
    try:
        _ensure_database(url)
    except Exception as exc:  # one line for the operator
        print(f"{script}: cannot prepare the database: {exc}".splitlines()[0], file=sys.stderr)
        return False
    import django
    from django.db import connection

    django.setup()
    if connection.vendor != "postgresql":
        print(f"{script}: the settings were loaded before DATABASE_URL was set", file=sys.stderr)
        return False
    return True


def _seed(site: Site, n: int, user: User, model_version: ModelVersion) -> list[int]:
    """n cases of one site in bulk: patient, study, case, series, image, prediction; some reviews."""
    from cases.models import Case, CaseStatus, Image, Patient, Review, Series, Study
    from inference.models import Prediction

    rng = random.Random(n)
    classes = ["glioma", "meningioma", "notumor", "pituitary"]
    statuses = [CaseStatus.PREDICTED] * 5 + [CaseStatus.IN_REVIEW, CaseStatus.REVIEWED, CaseStatus.QUEUED]
    tag = uuid.uuid4().hex[:8]
    patients = Patient.objects.bulk_create([Patient(pseudonym=f"B{tag}{i:020d}"[:32]) for i in range(n)])
    studies = Study.objects.bulk_create(
        [
            Study(
                study_instance_uid=f"2.25.{uuid.uuid4().int}",
                site=site,
                patient=p,
                modality="MR",
                body_part="HEAD",
            )
            for p in patients
        ]
    )
    cases = []
    for study in studies:
        probs = [rng.random() for _ in classes]
        total = sum(probs)
        label = classes[max(range(len(classes)), key=probs.__getitem__)]
        cases.append(
            Case(
                site=site,
                study=study,
                task="brain_mri",
                status=rng.choice(statuses),
                priority=rng.choice([0] * 18 + [1, 2]),
                ai_label=label,
                ai_confidence=max(probs) / total,
                ai_uncertainty=rng.random(),
                ai_positive=label != "notumor",
                created_by=user,
            )
        )
    cases = Case.objects.bulk_create(cases)
    series = Series.objects.bulk_create(
        [Series(study=s, series_instance_uid=f"2.25.{uuid.uuid4().int}", modality="MR") for s in studies]
    )
    images = []
    for case, s in zip(cases, series, strict=True):
        prefix = f"images/bench-{uuid.uuid4().hex}"
        images.append(
            Image(
                series=s,
                case=case,
                kind="image",
                sop_instance_uid=f"2.25.{uuid.uuid4().int}",
                storage_prefix=prefix,
                file=f"{prefix}/source.png",
                display=f"{prefix}/display_0000.png",
                thumbnail=f"{prefix}/thumbnail.png",
                sha256=uuid.uuid4().hex + uuid.uuid4().hex,
                stored_sha256="0" * 64,
                rows=512,
                cols=512,
            )
        )
    images = Image.objects.bulk_create(images)
    Prediction.objects.bulk_create(
        [
            Prediction(
                image=image,
                model_version=model_version,
                status="done",
                label=case.ai_label,
                confidence=case.ai_confidence,
                probabilities={c: 0.25 for c in classes},
                uncertainty=case.ai_uncertainty,
                device="cpu",
                timings={"forward_ms": 5.0},
            )
            for image, case in zip(images, cases, strict=True)
        ]
    )
    Review.objects.bulk_create(
        [
            Review(
                case=case,
                image=image,
                reviewer=user,
                decision="confirm",
                label=case.ai_label,
                task="brain_mri",
            )
            for image, case in zip(images, cases, strict=True)
            if case.pk % 4 == 0
        ]
    )
    return [c.pk for c in cases]


def seed_two_sites(
    database_url: str, cases: int, make_user: Callable[[str, Site], tuple[User, T]]
) -> tuple[tuple[User, T], tuple[User, T], list[int], list[int]]:
    """Migrate, then seed a large site (``cases`` cases) and a small one (SMALL) with one user each.

    ``make_user(username, site)`` makes each site's user and returns it with anything
    else the bench needs of it (nothing here, an API client in bench/api.py).
    Returns both ``(user, extra)`` pairs and both sites' case ids.
    """
    from django.core.management import call_command
    from django.db import connection

    from cases.models import Site
    from inference.models import ModelVersion

    print(f"migrating {database_url} ...", flush=True)
    call_command("migrate", verbosity=0)
    big = Site.objects.create(code="bench-big", name="Bench large site")
    small = Site.objects.create(code="bench-small", name="Bench small site")
    big_user = make_user("bench-big", big)
    small_user = make_user("bench-small", small)
    model = ModelVersion.objects.create(
        name="bench",
        version="1",
        task="brain_mri",
        arch="resnet10",
        bundle_path="-",
        weights_sha256="0" * 64,
        class_names=["glioma", "meningioma", "notumor", "pituitary"],
        card={},
        status="active",
    )
    start = time.perf_counter()
    big_ids = _seed(big, cases, big_user[0], model)
    small_ids = _seed(small, SMALL, small_user[0], model)
    print(f"seeded {cases} + {SMALL} cases in {time.perf_counter() - start:.1f} s", flush=True)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return big_user, small_user, big_ids, small_ids


def _time(client: Client, url: str, runs: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm caches and connections
        assert client.get(url).status_code == 200, url
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, url
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, len(queries)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases of the large site (default 10000)")
    parser.add_argument("--runs", type=int, default=60, help="timed requests per page (default 60)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    if not django_on_fresh_postgres(args.database_url, script="bench/worklist.py"):
        return 2
    from django.contrib.auth.models import Group
    from django.test import Client

    from cases.models import Role, User

    def _make_user(username: str, role: str, site: Site) -> User:
        user = User.objects.create_user(username=username, password=PASSWORD, site=site)
        user.groups.add(Group.objects.get(name=role))  # the roles migration made the groups
        return user

    (big_user, _), (small_user, _), big_ids, small_ids = seed_two_sites(
        args.database_url, args.cases, lambda name, site: (_make_user(name, Role.RADIOLOGIST, site), None)
    )

    pages = [
        ("worklist (default: findings first)", "/"),
        ("worklist ?order=uncertainty", "/?order=uncertainty"),
        ("worklist ?ai_label=glioma&status=predicted", "/?ai_label=glioma&status=predicted"),
        ("worklist page 100", "/?page=100"),
        ("case page", "/cases/{case}/"),
        ("status feed, 50 ids", "/cases/status.json?ids={ids}"),
    ]
    big_name = f"{args.cases // 1000}k" if args.cases >= 1000 else str(args.cases)
    print(
        f"\n{'page':44} {big_name + ' p50':>9} {big_name + ' p95':>9} {str(SMALL) + ' p50':>8} {'ratio':>6} {'queries':>8}"
    )
    worst = 0.0
    for name, template in pages:
        results = []
        for user, ids in ((big_user, big_ids), (small_user, small_ids)):
            client = Client()
            client.force_login(user)
            url = template.format(case=ids[len(ids) // 2], ids=",".join(map(str, ids[:50])))
            if "page=100" in url and len(ids) < 5000:
                url = "/"  # the small site has one page
            results.append(_time(client, url, args.runs))
        (p50, p95, queries), (s50, _, s_queries) = results
        worst = max(worst, p95)
        print(f"{name:44} {p50:9.1f} {p95:9.1f} {s50:8.1f} {p50 / s50:6.2f} {queries:4d}/{s_queries:<3d}")
    print(
        f"\nworst p95 {worst:.1f} ms (goal 150 ms); ratio = p50 with {args.cases} cases / p50 with {SMALL} cases (same page size)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
