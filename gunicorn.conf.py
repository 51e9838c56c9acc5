"""gunicorn settings for `ltb serve`: uvicorn workers, bound from BIND_ADDRESS."""

import os

from app.settings import Settings

_settings = Settings.from_env()
_host, _port = _settings.bind_host_port()

bind = f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"
workers = _settings.workers
worker_class = "uvicorn_worker.UvicornWorker"
# Long provider calls are normal; the worker heartbeat is separate from requests.
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LTB_LOG_LEVEL", "info")
# gunicorn 27 otherwise shares one control socket in $HOME between all instances.
control_socket_disable = True
