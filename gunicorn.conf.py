"""gunicorn settings for `ltb serve`: uvicorn workers, bound from BIND_ADDRESS.

Also the server-wide parts of observability: the directory where every worker
keeps its Prometheus figures (so /metrics sums them), and the log format of
gunicorn's and uvicorn's own lines (LTB_LOG_FORMAT).
"""

import os
import shutil

from gunicorn.glogging import Logger

from app.observability.logs import use_format
from app.observability.metrics_dir import (
    make_metrics_dir,
    remove_orphaned_metrics_dirs,
)
from app.settings import Settings

_settings = Settings.from_env()
_host, _port = _settings.bind_host_port()
_METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class _PidAccessLogger(Logger):
    # uvicorn workers write their own access lines and ignore access_log_format;
    # the pid tells which worker served a request.
    access_fmt = "[%(process)d] %(message)s"

    def setup(self, cfg):
        super().setup(cfg)
        if _settings.log_format == "json":
            # uvicorn's loggers write through these same handlers.
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    use_format(handler, "json")


def on_starting(server):
    """Give this server start an empty metrics directory, shared by its workers."""
    given = os.environ.get(_METRICS_DIR)
    if given:
        # An operator's directory: files of an earlier run would add to our sums.
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.unlink(os.path.join(given, name))
        return
    for orphan in remove_orphaned_metrics_dirs():
        server.log.info("Removed the metrics of a server killed earlier: %s", orphan)
    os.environ[_METRICS_DIR] = make_metrics_dir()
    os.environ["LTB_METRICS_DIR_OWNED"] = "1"
    server.log.info("Prometheus metrics of the workers in %s", os.environ[_METRICS_DIR])


def child_exit(server, worker):
    """A worker is gone: its open-WebSocket gauge no longer counts."""
    # Imported here, after on_starting: prometheus_client chooses where figures
    # live when first imported, and workers forked from this master inherit it.
    from app.observability.metrics import forget_worker

    forget_worker(worker.pid)


def on_exit(server):
    """Remove the metrics directory this server created."""
    if os.environ.get("LTB_METRICS_DIR_OWNED") == "1":
        shutil.rmtree(os.environ[_METRICS_DIR], ignore_errors=True)


bind = f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"
workers = _settings.workers
worker_class = "app.worker.Worker"
# Long provider calls are normal; the worker heartbeat is separate from requests.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
logger_class = _PidAccessLogger
loglevel = os.environ.get("LTB_LOG_LEVEL", "info")
# gunicorn 27 otherwise shares one control socket in $HOME between all instances.
control_socket_disable = True
# uvicorn rewrites the client address from X-Forwarded-For for these peers only. Its
# default trusts 127.0.0.1, which would let any local caller choose its address and
# escape the per-address rate limits: trust exactly the proxies the app trusts.
forwarded_allow_ips = ",".join(_settings.trusted_proxies)
