"""Configuration modes: what may run together, and the setting a refusal names."""

from __future__ import annotations

import pytest

from app.cli import main
from app.errors import ConfigurationError
from app.settings import Settings

POSTGRES = "postgresql://ltb@127.0.0.1/ltb"
REDIS = "redis://127.0.0.1:6379/0"


def settings(**env: str) -> Settings:
    return Settings.from_env(env)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"LTB_WORKERS": "2", "REDIS_URL": REDIS}, "DATABASE_URL"),
        ({"LTB_WORKERS": "2", "DATABASE_URL": POSTGRES}, "REDIS_URL"),
        ({"LTB_EXECUTOR": "celery", "REDIS_URL": REDIS}, "DATABASE_URL"),
        ({"LTB_EXECUTOR": "celery", "DATABASE_URL": POSTGRES}, "REDIS_URL"),
    ],
)
def test_a_configuration_that_would_split_state_is_refused_naming_the_setting(
    env: dict[str, str], names: str
) -> None:
    with pytest.raises(ConfigurationError, match=names):
        settings(**env).check_shared_state()


@pytest.mark.parametrize(
    "env",
    [
        {},  # the embedded default: one worker, SQLite, in-process bus and jobs
        {"LTB_WORKERS": "4", "DATABASE_URL": POSTGRES, "REDIS_URL": REDIS},
        {"LTB_EXECUTOR": "celery", "DATABASE_URL": POSTGRES, "REDIS_URL": REDIS},
    ],
)
def test_consistent_configurations_are_accepted(env: dict[str, str]) -> None:
    settings(**env).check_shared_state()


def test_the_broker_is_redis_unless_celery_broker_url_says_otherwise() -> None:
    assert settings(REDIS_URL=REDIS).broker_url == REDIS
    rabbit = "amqp://guest:guest@127.0.0.1:5672/ltb"
    assert settings(REDIS_URL=REDIS, CELERY_BROKER_URL=rabbit).broker_url == rabbit


def test_an_unknown_executor_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="LTB_EXECUTOR must be one of"):
        settings(LTB_EXECUTOR="threads")


def test_ltb_worker_refuses_to_run_beside_the_embedded_executor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("LTB_EXECUTOR", raising=False)

    assert main(["worker"]) == 2
    assert "LTB_EXECUTOR=celery" in capsys.readouterr().err


def test_ltb_worker_refuses_sqlite(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LTB_EXECUTOR", "celery")
    monkeypatch.setenv("REDIS_URL", REDIS)
    monkeypatch.delenv("DATABASE_URL", raising=False)

    assert main(["worker"]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err
