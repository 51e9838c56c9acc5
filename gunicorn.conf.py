"""gunicorn settings for `ltb serve`: uvicorn workers, bound from BIND_ADDRESS."""

import os

from gunicorn.glogging import Logger

from app.settings import Settings

_settings = Settings.from_env()
_host, _port = _settings.bind_host_port()


class _PidAccessLogger(Logger):
    # uvicorn workers write their own access lines and ignore access_log_format;
    # the pid tells which worker served a request.
    access_fmt = "[%(process)d] %(message)s"


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
