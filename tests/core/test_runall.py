import sys

from apps.core.management.commands.runall import build_children


def test_runall_starts_gunicorn_worker_and_beat(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    children = {c.name: c.argv for c in build_children(host="0.0.0.0", port=9001, web_workers=2, worker_concurrency=2)}
    assert set(children) == {"web", "worker", "beat"}
    assert children["web"][:3] == [sys.executable, "-m", "gunicorn"]
    assert "0.0.0.0:9001" in children["web"]
    assert children["worker"][children["worker"].index("--concurrency") + 1] == "2"
    assert str(tmp_path / "celerybeat-schedule") in children["beat"]
