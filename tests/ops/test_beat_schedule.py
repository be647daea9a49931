from config.celery import app


def test_every_beat_entry_names_a_registered_task():
    app.autodiscover_tasks(force=True)  # what a worker does at start: import every app's tasks module
    registered = set(app.tasks.keys())
    unknown = {name: entry["task"] for name, entry in app.conf.beat_schedule.items() if entry["task"] not in registered}
    assert not unknown, f"beat entries naming tasks no worker knows: {unknown}"
    assert len(app.conf.beat_schedule) >= 4
