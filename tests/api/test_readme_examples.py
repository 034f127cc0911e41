"""The README's API examples, run as written against a live server with a real worker.

The curl block and the Python block are taken from README.md (the fenced
block after each ``<!-- readme-example: NAME -->`` marker) and run in a
scratch folder with the environment `make run` gives them: ``ONCO`` pointing
at the server, the demo tokens file in ``ONCOPORTAL_VAR_DIR`` and the sample
data in ``ONCOPORTAL_DATA_DIR``. Each must end with a stored prediction, a
downloaded overlay and a stored review.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import DATA_DIR, REPO, require_service
from tests.worker import redis_url, worker_sharing_media

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def readme_example(name: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- readme-example: {name} -->\s*```\w+\n(.*?)\n```", text, re.S)
    assert match, f"README.md has no '{name}' example"
    return match.group(1)


@pytest.fixture
def api_worker(settings, tmp_path):
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(12)) as proc:
        yield proc


@pytest.fixture
def example_env(live_server, tmp_path, integration, reviewer, random_model, make_token):
    require_service("sample data", (DATA_DIR / "brain_mri" / "train" / "glioma").is_dir(), str(DATA_DIR))
    var = tmp_path / "example-var"
    var.mkdir()
    (var / "demo-api-tokens.env").write_text(
        f"export ONCO_TOKEN={make_token(integration, 'read,upload', name='demo')}\n"
        f"export ONCO_REVIEW_TOKEN={make_token(reviewer, 'read,review', name='demo')}\n"
    )
    work = tmp_path / "example-run"
    work.mkdir()
    env = {
        **os.environ,
        "ONCO": f"{live_server.url}/api/v1",
        "ONCOPORTAL_VAR_DIR": str(var),
        "ONCOPORTAL_DATA_DIR": str(DATA_DIR),
    }
    return work, env


def _run(args: list[str], *, work, env, timeout: int = 300) -> str:
    done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done.stdout


def _assert_scored_and_reviewed(work) -> None:
    from cases.models import Review
    from inference.models import Prediction

    assert Prediction.objects.filter(status="done").exists()
    review = Review.objects.get()
    assert review.reviewer.username == "rev"
    assert review.decision == "confirm" and review.label == review.ai_label
    assert (work / "overlay.png").read_bytes().startswith(PNG_SIGNATURE)


def test_readme_curl_example(example_env, api_worker):
    work, env = example_env
    out = _run(["bash", "-euo", "pipefail", "-c", readme_example("curl")], work=work, env=env)
    assert '"decision":"confirm"' in out.replace(" ", "")
    _assert_scored_and_reviewed(work)


def test_readme_python_example(example_env, api_worker):
    work, env = example_env
    script = work / "example.py"
    script.write_text(readme_example("python"))
    # As the README says: run after its `export` and `source` lines.
    setup = "\n".join(readme_example("curl").splitlines()[:2])
    out = _run(
        ["bash", "-euo", "pipefail", "-c", f'{setup}\nexec "$0" example.py', sys.executable],
        work=work,
        env=env,
    )
    assert out.splitlines()[-1].startswith("201 ")
    _assert_scored_and_reviewed(work)
