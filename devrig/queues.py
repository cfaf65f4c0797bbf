"""A task backend whose queue can be taken down: `settings.TASKS = DOWNABLE_QUEUE`, then
`QueueSwitch.down = True` makes every enqueue raise like a Redis that is not answering; while it is up
it runs the task at once (Django's ImmediateBackend). Loaded by its dotted path; nothing imports it
but the tests that configure it."""

from __future__ import annotations

from django.tasks.backends.immediate import ImmediateBackend

DOWNABLE_QUEUE = {"default": {"BACKEND": "devrig.queues.DownableBackend"}}


class QueueSwitch:
    down = False
    refused = 0


class DownableBackend(ImmediateBackend):
    def enqueue(self, task, args, kwargs):
        if QueueSwitch.down:
            QueueSwitch.refused += 1
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return super().enqueue(task, args, kwargs)
