"""QIDO-RS study search (``GET /dicomweb/studies``) with 1,200 and with 10,000 studies on PostgreSQL.

    .venv/bin/python bench/qido.py [--sizes 1200,10000] [--runs 60] [--database-url postgres://...]

Seeds a throw-away PostgreSQL database (default ``oncoportal_bench_qido``,
created if missing and emptied first) with ORM rows only, no files (QIDO-RS
reads none): one site whose studies grow to each of ``--sizes`` in turn, each
study with a patient, a case, one or two series (MR, or CT and SR) and two or
three images, study dates spread over six years. At each size it times the
same searches through the real stack (Django's test client, a bearer token of
a radiologist of the site, DEBUG off) and records p50/p95 in milliseconds and
the SQL query count of one call. The table puts the sizes side by side: the
query count must be the same at every size, and p95 within 150 ms for a page
of 100 (the default limit).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.worklist import django_on_fresh_postgres  # noqa: E402  (after the path is set)

if TYPE_CHECKING:
    from django.test import Client

    from cases.models import Site, User

DEFAULT_URL = "postgres://postgres@localhost:5432/oncoportal_bench_qido"
GOAL_MS = 150.0
FIRST_DATE = datetime.date(2020, 1, 1)
DAYS = 6 * 365


def _seed(site: Site, user: User, start: int, stop: int) -> None:
    """Studies ``start`` .. ``stop - 1`` of the site, in bulk; patient i % 3 == 0 has two studies."""
    from cases.models import Case, CaseStatus, Image, Patient, Series, Study

    rng = random.Random(stop)
    tag = uuid.uuid4().hex[:6]
    count = stop - start
    patients = Patient.objects.bulk_create(
        [Patient(pseudonym=f"QB{tag}{start + i:08d}") for i in range(count)]
    )
    studies = Study.objects.bulk_create(
        [
            Study(
                study_instance_uid=f"2.25.{uuid.uuid4().int}",
                site=site,
                # a third of the patients come back: their second study shares the patient
                patient=patients[i - 1] if i % 3 == 2 else patients[i],
                modality="MR" if i % 4 else "CT",
                body_part="HEAD" if i % 4 else "CHEST",
                description=f"bench study {start + i}",
                study_date=FIRST_DATE + timedelta(days=rng.randrange(DAYS)),
                study_time=datetime.time(rng.randrange(24), rng.randrange(60)),
                patient_age=f"{rng.randrange(18, 90):03d}Y",
            )
            for i in range(count)
        ]
    )
    Case.objects.bulk_create(
        [
            Case(site=site, study=s, task="brain_mri", status=CaseStatus.PREDICTED, created_by=user)
            for s in studies
        ]
    )
    cases = dict(Case.objects.filter(study__in=studies).values_list("study_id", "pk"))
    series: list[Series] = []
    for i, study in enumerate(studies):
        series.append(
            Series(
                study=study,
                series_instance_uid=f"2.25.{uuid.uuid4().int}",
                modality=study.modality,
                body_part=study.body_part,
                series_number=1,
            )
        )
        if i % 4 == 0:  # the CT studies also carry a structured report series
            series.append(
                Series(
                    study=study,
                    series_instance_uid=f"2.25.{uuid.uuid4().int}",
                    modality="SR",
                    series_number=2,
                )
            )
    series = Series.objects.bulk_create(series)
    images = []
    for s in series:
        for number in range(1, 3 if s.modality != "MR" else 4):
            prefix = f"images/bench-{uuid.uuid4().hex}"
            images.append(
                Image(
                    series=s,
                    case_id=cases[s.study_id],
                    kind="dicom",
                    sop_instance_uid=f"2.25.{uuid.uuid4().int}",
                    sop_class_uid="1.2.840.10008.5.1.4.1.1.4",
                    instance_number=number,
                    storage_prefix=prefix,
                    file=f"{prefix}/source.dcm",
                    display=f"{prefix}/display_0000.png",
                    thumbnail=f"{prefix}/thumbnail.png",
                    sha256=uuid.uuid4().hex + uuid.uuid4().hex,
                    stored_sha256="0" * 64,
                    rows=256,
                    cols=256,
                    header={"(0028,0100) Bits Allocated": 16},
                )
            )
    Image.objects.bulk_create(images, batch_size=2000)


class Timing(NamedTuple):
    p50: float  # wall ms
    p95: float
    cpu50: float  # this process's CPU ms (the whole Django side; PostgreSQL's own work is not in it)
    sql: float  # ms the one captured call spent waiting on its queries
    queries: int
    status: int
    results: int


def _time(client: Client, url: str, runs: int) -> Timing:
    """Wall p50/p95 and CPU p50 in ms, then one call's query count and SQL time, status and results."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm caches and connections
        client.get(url)
    samples, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    results = len(response.json()) if response.status_code == 200 else 0
    sql = sum(float(q["time"]) for q in queries.captured_queries) * 1000
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return Timing(
        statistics.median(samples),
        p95,
        statistics.median(cpu),
        sql,
        len(queries),
        response.status_code,
        results,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1200,10000", help="study counts, ascending (default 1200,10000)")
    parser.add_argument("--runs", type=int, default=60, help="timed requests per search (default 60)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_QIDO_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        print("bench/qido.py: --sizes is a comma-separated list of whole numbers", file=sys.stderr)
        return 2
    if sizes != sorted(sizes) or sizes[0] < 200:
        print("bench/qido.py: --sizes must ascend and start at 200 or more", file=sys.stderr)
        return 2
    if not django_on_fresh_postgres(args.database_url, script="bench/qido.py"):
        return 2
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from api.services.tokens import token_create
    from cases.models import Patient, Role, Site, User

    print(f"migrating {args.database_url} ...", flush=True)
    call_command("migrate", verbosity=0)
    site = Site.objects.create(code="bench-qido", name="Bench QIDO site")
    other = Site.objects.create(code="bench-other", name="Another site (never matched)")
    user = User.objects.create_user(username="bench-qido", password="bench-password-1", site=site)
    user.groups.add(Group.objects.get(name=Role.RADIOLOGIST))
    token = token_create(
        user=user, name="bench", scopes="read", expires_in=timedelta(days=1), rate_per_minute=1_000_000
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token.value}", HTTP_ACCEPT="application/dicom+json")
    outsider = User.objects.create_user(username="bench-other", password="bench-password-1", site=other)
    _seed(other, outsider, 0, 500)  # rows the site filter must leave out

    searches = [
        ("no filter (page of 100)", "/dicomweb/studies"),
        ("PatientID (one patient)", "/dicomweb/studies?PatientID={patient}"),
        ("PatientName wildcard", "/dicomweb/studies?PatientName={prefix}*&limit=100"),
        ("StudyDate range (one year)", "/dicomweb/studies?StudyDate=20230101-20231231"),
        ("ModalitiesInStudy=CT", "/dicomweb/studies?ModalitiesInStudy=CT"),
        ("AccessionNumber (never kept: 204)", "/dicomweb/studies?AccessionNumber=A123"),
        ("StudyInstanceUID", "/dicomweb/studies?StudyInstanceUID={study_uid}"),
        ("includefield=all", "/dicomweb/studies?includefield=all"),
        ("offset 1000 (page 11)", "/dicomweb/studies?offset=1000"),
        ("last page (offset N-100)", "/dicomweb/studies?offset={last}"),
    ]
    table: dict[str, list[Timing]] = {name: [] for name, _ in searches}
    seeded = 0
    for size in sizes:
        start = time.perf_counter()
        _seed(site, user, seeded, size)
        seeded = size
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        print(f"seeded {size} studies in all (+{time.perf_counter() - start:.1f} s)", flush=True)
        middle = Patient.objects.filter(studies__site=site).distinct().order_by("pk")[size // 3]
        values = {
            "patient": middle.pseudonym,
            "prefix": middle.pseudonym[:-3],
            "study_uid": middle.studies.first().study_instance_uid,  # type: ignore[union-attr]
            "last": size - 100,
        }
        for name, template in searches:
            table[name].append(_time(client, template.format(**values), args.runs))
            print(f"  {size:>6} {name}: p95 {table[name][-1].p95:.1f} ms", flush=True)

    heads = "".join(f"{f'{n} p50':>11}{f'{n} p95':>11}{'cpu':>6}{'sql':>6}" for n in sizes)
    print(f"\n{'search':36}{heads}{'queries':>9}{'results':>10}{'p50 ratio':>10}")
    worst, constant = 0.0, True
    for name, _ in searches:
        rows = table[name]
        cells = "".join(f"{t.p50:11.1f}{t.p95:11.1f}{t.cpu50:6.0f}{t.sql:6.1f}" for t in rows)
        queries = "/".join(str(t.queries) for t in rows)
        results = "/".join(str(t.results) if t.status in (200, 204) else f"HTTP {t.status}" for t in rows)
        constant = constant and len({t.queries for t in rows}) == 1
        worst = max(worst, *(t.p95 for t in rows))
        print(f"{name:36}{cells}{queries:>9}{results:>10}{rows[-1].p50 / rows[0].p50:10.2f}")
    print(
        f"\nworst p95 {worst:.1f} ms (goal {GOAL_MS:.0f} ms); queries "
        f"{'the same at every size' if constant else 'GROW WITH THE NUMBER OF STUDIES'}; "
        f"p50 ratio = largest size / smallest; cpu = p50 of this process's CPU ms a call; sql = ms on SQL "
        f"in one call; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(
        "\n| search | "
        + " | ".join(f"{n} p50 ms | {n} p95 ms | {n} CPU ms | {n} SQL ms" for n in sizes)
        + " | queries | results |"
    )
    print("|---|" + "---:|" * (4 * len(sizes) + 2))
    for name, _ in searches:
        rows = table[name]
        cells = " | ".join(f"{t.p50:.1f} | {t.p95:.1f} | {t.cpu50:.0f} | {t.sql:.1f}" for t in rows)
        print(
            f"| {name} | {cells} | {'/'.join(str(t.queries) for t in rows)} | "
            f"{'/'.join(str(t.results) for t in rows)} |"
        )
    return 0 if worst <= GOAL_MS and constant else 1


if __name__ == "__main__":
    raise SystemExit(main())
