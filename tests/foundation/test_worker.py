"""Celery round trips through real worker processes: on Redis, and on the embedded transport."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from leapportal import embedded_db
from leapportal.models import WorkerHeartbeat
from leapportal.tasks import record_worker_heartbeat
from tests.conftest import REPO, CeleryWorker

pytestmark = pytest.mark.worker


@pytest.mark.django_db(transaction=True)
def test_a_task_sent_to_redis_is_run_by_the_real_worker(celery_worker):
    result = record_worker_heartbeat.delay()

    beat = celery_worker.wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname=celery_worker.hostname).first(),
        what="the worker's heartbeat row",
    )
    assert result.id
    assert beat.beats == 1
    assert timezone.now() - beat.last_seen_at < timedelta(minutes=1)
    assert f"Task leapportal.tasks.record_worker_heartbeat[{result.id}] succeeded" in (
        celery_worker.log_text()
    )


@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_on_commit_runs_once_per_commit(celery_worker):
    with transaction.atomic():
        record_worker_heartbeat.delay_on_commit()
        record_worker_heartbeat.delay_on_commit()
        # Nothing is sent before the commit: the worker must not see half-written state.
        time.sleep(0.3)
        assert not WorkerHeartbeat.objects.filter(hostname=celery_worker.hostname).exists()

    celery_worker.wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname=celery_worker.hostname, beats=2).exists(),
        what="two heartbeats",
    )


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_restarted_for_the_next_use(celery_workers, celery_worker):
    first_pid = celery_worker.pid
    celery_worker.kill()
    assert not celery_worker.is_alive()

    again = celery_workers.get()
    assert again is celery_worker and again.is_alive() and again.pid != first_pid
    record_worker_heartbeat.delay()
    again.wait_for(
        lambda: WorkerHeartbeat.objects.filter(hostname=again.hostname).exists(),
        what="a heartbeat from the restarted worker",
    )


@pytest.mark.django_db(transaction=True)
def test_beat_with_the_database_scheduler_feeds_the_worker(celery_worker, tmp_path):
    # Only a fast heartbeat entry: the installed schedule's other tasks must not fire here.
    PeriodicTask.objects.update(enabled=False)
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name="test-fast-heartbeat",
        task="leapportal.tasks.record_worker_heartbeat",
        interval=every_second,
        queue=celery_worker.queue,
    )
    log = (tmp_path / "beat.log").open("wb")
    beat = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "leapportal", "beat", "-S", "django"]
        + ["--max-interval", "1", "-s", str(tmp_path / "beat-schedule"), "--loglevel=INFO"],
        cwd=REPO,
        env=celery_worker.env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        celery_worker.wait_for(
            lambda: WorkerHeartbeat.objects.filter(
                hostname=celery_worker.hostname, beats__gte=2
            ).exists(),
            timeout=45,
            what="two heartbeats scheduled by beat",
        )
    finally:
        beat.terminate()
        beat.wait(timeout=20)
        log.close()
    assert "Sending due task test-fast-heartbeat" in (tmp_path / "beat.log").read_text()


@pytest.fixture
def embedded_database(embedded_pgdata):
    """A running embedded PostgreSQL in the test's own folder: its DATABASE_URL."""
    return embedded_db.ensure_running(embedded_pgdata)


def test_a_task_round_trips_through_the_embedded_filesystem_transport(tmp_path, embedded_database):
    """The demo's default: the embedded PostgreSQL + kombu's filesystem broker, no server at all."""
    env = {
        **os.environ,
        "DATABASE_URL": embedded_database,
        "WORKER_STARTUP_HEARTBEAT": "false",  # the one beat counted is the task sent below
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_DIR": str(tmp_path / "broker"),
        "CELERY_QUEUE": "embedded",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_SETTINGS_MODULE": "leapportal.settings",
        "DEBUG": "true",
        "LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=120
    )
    worker = CeleryWorker(
        hostname=f"embedded-{os.getpid()}@localhost",
        queue="embedded",
        env=env,
        log_path=tmp_path / "worker.log",
        ready="log",
    )
    worker.start()
    try:
        # The sender is a separate process too, as the web server is in the demo.
        subprocess.run(
            [sys.executable, "-c", "import django; django.setup(); "
             "from leapportal.tasks import record_worker_heartbeat as t; print(t.delay().id)"],
            cwd=REPO, env=env, check=True, timeout=60, capture_output=True,
        )  # fmt: skip

        def heartbeat_rows():
            with psycopg.connect(embedded_database) as db:
                return db.execute(
                    "SELECT hostname, beats FROM leapportal_workerheartbeat"
                ).fetchall()

        rows = worker.wait_for(heartbeat_rows, timeout=60, what="the heartbeat row")
    finally:
        worker.stop()
    assert rows == [(worker.hostname, 1)]
    # The message went through files, and the worker consumed it (nothing left queued).
    assert (tmp_path / "broker" / "out").is_dir()
    assert not any((tmp_path / "broker" / "out").glob("*.msg"))
    # kombu's control (pidbox) files stay beside the queue, not in the current directory.
    assert any((tmp_path / "broker" / "control").iterdir())
    assert not (REPO / "control").exists()
