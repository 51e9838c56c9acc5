"""The provider registry: lookup, description, prices, keys and client lifetime."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import BadRequest, ConfigurationError, ErrorCode
from app.providers import (
    ModelPrice,
    ProviderConfig,
    ProviderError,
    ProviderRegistry,
    ProviderUnavailable,
)
from app.providers.openai_chat import token_limit_field

SECRET = "sk-registry-SECRET-42"
# Nothing is ever sent: these tests only build clients.
UNUSED_URL = "http://127.0.0.1:9/v1"


def _configs() -> dict[str, ProviderConfig]:
    """One keyed provider of each kind and one keyless local server."""
    return {
        "openai": ProviderConfig(
            name="openai",
            kind="openai",
            base_url=UNUSED_URL,
            api_key_env="TEST_OPENAI_KEY",
            models={"gpt-4o": ModelPrice(2.5, 10.0, 1.25)},
        ),
        "anthropic": ProviderConfig(
            name="anthropic",
            kind="anthropic",
            base_url="http://127.0.0.1:9",
            api_key_env="TEST_ANTHROPIC_KEY",
            models={},
        ),
        "local": ProviderConfig(
            name="local",
            kind="openai",
            base_url=UNUSED_URL,
            api_key_env=None,
            models={"llama": ModelPrice(0.0, 0.0)},
        ),
    }


def test_names_are_sorted() -> None:
    registry = ProviderRegistry(_configs(), {})

    assert registry.names() == ["anthropic", "local", "openai"]


def test_an_unknown_provider_is_a_bad_request_naming_the_known_ones() -> None:
    registry = ProviderRegistry(_configs(), {})

    with pytest.raises(BadRequest, match="known providers: anthropic, local, openai"):
        registry.config("azure")


def test_describe_lists_every_provider_with_prices_and_never_a_key() -> None:
    registry = ProviderRegistry(_configs(), {"TEST_OPENAI_KEY": SECRET})

    description = registry.describe()

    assert description == [
        {
            "name": "anthropic",
            "kind": "anthropic",
            "base_url": "http://127.0.0.1:9",
            "configured": False,
            "models": [],
        },
        {
            "name": "local",
            "kind": "openai",
            "base_url": UNUSED_URL,
            "configured": True,
            "models": [
                {
                    "name": "llama",
                    "input_per_mtok": 0.0,
                    "output_per_mtok": 0.0,
                    "cached_input_per_mtok": None,
                }
            ],
        },
        {
            "name": "openai",
            "kind": "openai",
            "base_url": UNUSED_URL,
            "configured": True,
            "models": [
                {
                    "name": "gpt-4o",
                    "input_per_mtok": 2.5,
                    "output_per_mtok": 10.0,
                    "cached_input_per_mtok": 1.25,
                }
            ],
        },
    ]
    assert SECRET not in repr(description)


def test_price_is_none_for_an_unknown_model_or_provider() -> None:
    registry = ProviderRegistry(_configs(), {})

    assert registry.price("openai", "gpt-4o") == ModelPrice(2.5, 10.0, 1.25)
    assert registry.price("openai", "gpt-4o-2024-05-13") is None
    assert registry.price("azure", "gpt-4o") is None


@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_key_is_unavailable_naming_the_variable(value: str | None) -> None:
    environ = {} if value is None else {"TEST_ANTHROPIC_KEY": value}
    registry = ProviderRegistry(_configs(), environ)

    async def get() -> None:
        registry.get("anthropic")

    with pytest.raises(ProviderUnavailable) as caught:
        asyncio.run(get())

    error = caught.value
    assert isinstance(error, ProviderError)
    assert error.code == ErrorCode.SERVICE_UNAVAILABLE
    assert error.status == 503
    assert "TEST_ANTHROPIC_KEY" in error.message
    assert error.details == {
        "provider": "anthropic",
        "reason": "not_configured",
        "api_key_env": "TEST_ANTHROPIC_KEY",
    }


def test_a_set_key_never_appears_in_a_missing_key_error_of_another_provider() -> None:
    registry = ProviderRegistry(_configs(), {"TEST_OPENAI_KEY": SECRET})

    async def get() -> None:
        registry.get("anthropic")

    with pytest.raises(ProviderUnavailable) as caught:
        asyncio.run(get())

    assert SECRET not in str(caught.value) + repr(caught.value.details)


def test_get_creates_each_client_once_and_reuses_it() -> None:
    environ = {"TEST_OPENAI_KEY": SECRET, "TEST_ANTHROPIC_KEY": SECRET}
    registry = ProviderRegistry(_configs(), environ)

    async def get_twice() -> bool:
        try:
            same = registry.get("openai") is registry.get("openai")
            distinct = registry.get("anthropic") is not registry.get("local")
            return same and distinct
        finally:
            await registry.aclose()

    assert asyncio.run(get_twice())


def test_get_outside_a_running_event_loop_is_refused() -> None:
    registry = ProviderRegistry(_configs(), {})

    with pytest.raises(RuntimeError, match="no running event loop"):
        registry.get("local")


def test_get_from_a_second_event_loop_is_refused_until_the_registry_is_closed() -> None:
    registry = ProviderRegistry(_configs(), {})

    async def get_local() -> str:
        return registry.get("local").name

    async def close() -> None:
        await registry.aclose()

    assert asyncio.run(get_local()) == "local"
    with pytest.raises(RuntimeError, match="different event loop"):
        asyncio.run(get_local())
    # The first loop is gone; closing releases the stale clients so a new loop can
    # create its own.
    asyncio.run(close())
    assert asyncio.run(get_local()) == "local"
    asyncio.run(close())


@pytest.mark.parametrize(
    ("base_url", "field"),
    [
        (None, "max_completion_tokens"),
        ("https://api.openai.com/v1", "max_completion_tokens"),
        ("http://127.0.0.1:8080/v1", "max_tokens"),
    ],
)
def test_only_openai_itself_is_sent_max_completion_tokens(
    base_url: str | None, field: str
) -> None:
    config = ProviderConfig(
        name="openai", kind="openai", base_url=base_url, api_key_env="K", models={}
    )

    assert token_limit_field(config) == field


def test_a_provider_of_unknown_kind_is_a_configuration_error() -> None:
    azure = ProviderConfig(
        name="azure", kind="azure", base_url=UNUSED_URL, api_key_env=None, models={}
    )

    with pytest.raises(ConfigurationError, match="unknown kind: azure"):
        ProviderRegistry({"azure": azure}, {})
