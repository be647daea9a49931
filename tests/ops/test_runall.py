import sys
from datetime import timedelta

from apps.ops.management.commands.runall import build_children


def test_runall_starts_gunicorn_worker_and_beat(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    children = {c.name: c.argv for c in build_children(host="0.0.0.0", port=9001, web_workers=2, worker_concurrency=2)}
    assert set(children) == {"web", "worker", "beat"}
    assert children["web"][:3] == [sys.executable, "-m", "gunicorn"]
    assert "0.0.0.0:9001" in children["web"]
    assert children["worker"][children["worker"].index("--concurrency") + 1] == "2"
    assert str(tmp_path / "celerybeat-schedule") in children["beat"]


def test_embedded_default_serves_with_threads_and_a_pool_without_child_processes(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.CELERY_BROKER_URL = "filesystem://"
    children = {
        c.name: c.argv for c in build_children(host="127.0.0.1", port=9001, web_workers=2, worker_concurrency=2)
    }
    web, worker = children["web"], children["worker"]
    assert web[web.index("--worker-class") + 1] == "gthread" and int(web[web.index("--threads") + 1]) > 1
    assert worker[worker.index("--pool") + 1] == "threads"
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:6379/0"
    redis_worker = {c.name: c.argv for c in build_children(host="h", port=1, web_workers=1, worker_concurrency=1)}
    assert "--pool" not in redis_worker["worker"]


def test_access_log_lines_carry_no_query_string(settings, tmp_path):
    """gunicorn's access log must not record a callback's `code` and `state`."""
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    settings.VAR_DIR = tmp_path
    (web,) = [c.argv for c in build_children(host="h", port=1, web_workers=1, worker_concurrency=1) if c.name == "web"]
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", web[web.index("--access-logformat") + 1])
    logger = Logger(config)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/connect/callback?code=the-code&state=the-state",
        "PATH_INFO": "/connect/callback",
        "QUERY_STRING": "code=the-code&state=the-state",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "https://provider.example/consent?code=the-code",
        "REMOTE_ADDR": "127.0.0.1",
    }
    response = type("Response", (), {"status": "302 Found", "sent": 0, "headers": [], "response_length": 0})()
    atoms = logger.atoms(response, type("Request", (), {"headers": []})(), environ, timedelta(seconds=0.01))
    line = config.access_log_format % atoms
    assert "/connect/callback" in line and "the-code" not in line and "the-state" not in line
