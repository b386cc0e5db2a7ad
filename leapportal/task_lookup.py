"""Find a Celery task by its name, so the code that queues it need not import its module.

Each app queues its tasks through its `enqueue` module. A `tasks` module imports the domain code
it runs, and that domain code queues follow-up work (a sync run, a revenue run, a bulk change):
were `enqueue` to import `tasks`, even inside a function, the modules would import each other in
a loop (tests/foundation/test_import_graph.py fails on one). So `enqueue` names the task, as a
message to the broker does, and this looks up the task object Celery registered under that name:
the very object `tasks` defines, so `delay`, `delay_on_commit`, eager mode in tests and a test's
monkeypatch on it behave exactly as before.
"""

from __future__ import annotations

from celery import Task
from celery.exceptions import NotRegistered

from leapportal.celery import app


def task(name: str) -> Task:  # type: ignore[type-arg]  # a task of any signature
    """The registered task called `name` (e.g. "meters.tasks.run_sync").

    A worker imports every app's `tasks` module when it starts; a web process has not, the first
    time. Then this imports them the way the worker does (Celery's autodiscovery of each
    installed app's `tasks`), once.
    """
    try:
        return app.tasks[name]
    except NotRegistered:
        app.loader.import_default_modules()
        return app.tasks[name]
