"""The Celery application of API workers (who queue chunks) and `ltb worker`.

Delivery is at least once, and a chunk may run twice; it is never lost:

- late acknowledgement: a chunk's message is acknowledged once its cells are
  stored, so a worker that dies mid-chunk leaves it in the broker. RabbitMQ gives
  it to another consumer as soon as the dead worker's connection drops; Redis
  after ``LTB_CELERY_VISIBILITY_TIMEOUT`` seconds (and `ltb serve` re-queues
  unfinished chunks at start-up, app/jobs/dispatch.py);
- one message at a time per worker slot (prefetch 1), so a dead worker holds
  back no more chunks than it was running;
- running a chunk twice is harmless: its cells are written insert-if-absent, and
  a chunk's copies take turns (app/jobs/tasks.py).
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from app.settings import Settings

CHUNK_TASK = "ltb.run_chunk"
MAX_RETRIES = 5
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def make_celery(settings: Settings) -> Celery:
    """The Celery app for these settings, with the chunk task registered."""
    broker = settings.broker_url
    assert broker, "Settings.check_shared_state requires REDIS_URL with celery"
    app = Celery("ltb", broker=broker, set_as_current=False)
    transport: dict[str, Any] = {}
    if broker.startswith(REDIS_SCHEMES):
        visibility = settings.celery_visibility_timeout_s
        transport = {
            "visibility_timeout": visibility,
            # Look for expired unacknowledged chunks a few times per timeout, every
            # time (kombu's defaults scan every 100 s whatever the timeout).
            "unacked_restore_interval": max(1, min(10, visibility // 3)),
            "unacked_restore_throttle": 1,
            # Queues and bookkeeping under our prefix, beside our other keys.
            "global_keyprefix": f"{settings.redis_prefix}:celery:",
        }
    app.conf.update(
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_default_queue=f"{settings.redis_prefix}.chunks",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        # Cancels travel by the benchmark's status and the event bus, not by
        # Celery's remote control, which the Redis transport would need
        # fan-out channels for.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
    )

    from app.jobs.tasks import run_chunk

    app.task(name=CHUNK_TASK, bind=True, max_retries=MAX_RETRIES)(run_chunk)
    return app
