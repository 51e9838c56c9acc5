"""Provider configuration: the built-in providers, their prices, and the YAML file."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import yaml

from app.errors import ConfigurationError

logger = logging.getLogger(__name__)

KINDS = ("openai", "anthropic")

# Names travel in URLs and job records, so they stay plain.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROVIDER_FIELDS = frozenset(
    {
        "name",
        "kind",
        "base_url",
        "api_key_env",
        "timeout_s",
        "max_retries",
        "max_concurrency",
        "models",
    }
)
_PRICE_FIELDS = frozenset(
    {"input_per_mtok", "output_per_mtok", "cached_input_per_mtok"}
)


@dataclass(frozen=True)
class ModelPrice:
    """List prices of one model in USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    # None: cached prompt tokens are billed at the input price.
    cached_input_per_mtok: float | None = None


@dataclass(frozen=True)
class ProviderConfig:
    """How to reach one provider and what its models cost."""

    name: str
    kind: str
    # None: the SDK's default endpoint; only the built-in providers leave it unset.
    base_url: str | None
    # None: the provider needs no key (a local OpenAI-compatible server).
    api_key_env: str | None
    models: dict[str, ModelPrice]
    timeout_s: float = 60.0
    max_retries: int = 2
    max_concurrency: int = 16


# Published list prices (OpenAI: input / cached input / output; Anthropic: base input /
# cache hits / output). Anthropic cache writes cost 1.25x input but Usage does not
# separate them, so they are billed at the input price.
_OPENAI_PRICES = {
    "gpt-4o": ModelPrice(2.50, 10.00, 1.25),
    "gpt-4o-mini": ModelPrice(0.15, 0.60, 0.075),
    "gpt-4.1": ModelPrice(2.00, 8.00, 0.50),
    "gpt-4.1-mini": ModelPrice(0.40, 1.60, 0.10),
    "gpt-4": ModelPrice(30.00, 60.00),
}
_ANTHROPIC_PRICES = {
    "claude-3-5-sonnet-20241022": ModelPrice(3.00, 15.00, 0.30),
    "claude-3-5-sonnet-20240620": ModelPrice(3.00, 15.00, 0.30),
    "claude-3-5-haiku-20241022": ModelPrice(0.80, 4.00, 0.08),
    "claude-3-opus-20240229": ModelPrice(15.00, 75.00, 1.50),
}


def builtin_provider_configs(environ: Mapping[str, str]) -> dict[str, ProviderConfig]:
    """Return fresh copies of the built-in "openai" and "anthropic" entries."""
    # The SDKs read these variables themselves when base_url is None; reading them
    # here too lets GET /v1/providers show the endpoint that is really used.
    return {
        "openai": ProviderConfig(
            name="openai",
            kind="openai",
            base_url=environ.get("OPENAI_BASE_URL") or None,
            api_key_env="OPENAI_API_KEY",
            models=dict(_OPENAI_PRICES),
        ),
        "anthropic": ProviderConfig(
            name="anthropic",
            kind="anthropic",
            base_url=environ.get("ANTHROPIC_BASE_URL") or None,
            api_key_env="ANTHROPIC_API_KEY",
            models=dict(_ANTHROPIC_PRICES),
        ),
    }


def load_provider_configs(
    path: str | None, environ: Mapping[str, str]
) -> dict[str, ProviderConfig]:
    """Return the built-in providers overlaid with the entries of the file at path."""
    configs = builtin_provider_configs(environ)
    if not path:
        return configs
    for config in _read_provider_file(path):
        if config.name in configs:
            logger.info("providers file replaces built-in provider %s", config.name)
        configs[config.name] = config
    return configs


def _read_provider_file(path: str) -> list[ProviderConfig]:
    """Parse and validate the providers file; raise ConfigurationError if unusable."""
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
    except OSError as exc:
        raise ConfigurationError(
            f"providers file {path}: cannot be read ({exc.strerror})",
            details={"path": path},
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigurationError(
            f"providers file {path}: not valid YAML ({exc})", details={"path": path}
        ) from exc
    if not isinstance(document, dict) or not isinstance(
        document.get("providers"), list
    ):
        raise _invalid(path, "the file", "must be a mapping with a 'providers' list")
    configs: list[ProviderConfig] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["providers"]):
        config = _provider_entry(path, index, entry)
        if config.name in seen:
            raise _invalid(path, _label(index, entry), "duplicate provider name")
        seen.add(config.name)
        configs.append(config)
    return configs


def _provider_entry(path: str, index: int, entry: object) -> ProviderConfig:
    """Validate one entry of the providers list."""
    where = _label(index, entry)
    if not isinstance(entry, dict):
        raise _invalid(path, where, "must be a mapping")
    unknown = sorted(str(key) for key in entry if key not in _PROVIDER_FIELDS)
    if unknown:
        raise _invalid(path, where, f"unknown field(s) {', '.join(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _invalid(path, f"{where}.name", "must be a name like 'local-vllm'")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise _invalid(path, f"{where}.kind", f"must be one of {', '.join(KINDS)}")
    return ProviderConfig(
        name=name,
        kind=kind,
        base_url=_base_url(path, where, name, entry.get("base_url")),
        api_key_env=_api_key_env(path, where, entry.get("api_key_env")),
        models=_models(path, where, entry.get("models", {})),
        timeout_s=_number(path, f"{where}.timeout_s", entry.get("timeout_s", 60.0)),
        max_retries=_integer(
            path, f"{where}.max_retries", entry.get("max_retries", 2), minimum=0
        ),
        max_concurrency=_integer(
            path,
            f"{where}.max_concurrency",
            entry.get("max_concurrency", 16),
            minimum=1,
        ),
    )


def _base_url(path: str, where: str, name: str, value: object) -> str | None:
    """Validate base_url: an http(s) URL, or absent for a built-in name."""
    if value is None:
        if name in KINDS:
            return None
        raise _invalid(path, f"{where}.base_url", "is required for this provider")
    if not isinstance(value, str):
        raise _invalid(path, f"{where}.base_url", "must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(path, f"{where}.base_url", "must be an http(s) URL")
    return value


def _api_key_env(path: str, where: str, value: object) -> str | None:
    """Validate api_key_env: an environment variable name, or null for no key."""
    if value is None:
        return None
    if not isinstance(value, str) or not _ENV_VAR.match(value):
        raise _invalid(
            path, f"{where}.api_key_env", "must be an environment variable name"
        )
    return value


def _models(path: str, where: str, value: object) -> dict[str, ModelPrice]:
    """Validate the models mapping: model name to its prices."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _invalid(path, f"{where}.models", "must be a mapping of model to prices")
    models: dict[str, ModelPrice] = {}
    for model, prices in value.items():
        model_where = f"{where}.models[{model!r}]"
        if not isinstance(model, str) or not model:
            raise _invalid(path, model_where, "model name must be a string")
        if not isinstance(prices, dict):
            raise _invalid(path, model_where, "must be a mapping of prices")
        unknown = sorted(str(key) for key in prices if key not in _PRICE_FIELDS)
        if unknown:
            raise _invalid(path, model_where, f"unknown field(s) {', '.join(unknown)}")
        cached = prices.get("cached_input_per_mtok")
        models[model] = ModelPrice(
            input_per_mtok=_price(path, model_where, prices, "input_per_mtok"),
            output_per_mtok=_price(path, model_where, prices, "output_per_mtok"),
            cached_input_per_mtok=None
            if cached is None
            else _price(path, model_where, prices, "cached_input_per_mtok"),
        )
    return models


def _price(path: str, where: str, prices: dict[Any, Any], field: str) -> float:
    """Validate one price: a finite number of USD, zero or more."""
    value = prices.get(field)
    if not _is_number(value) or value < 0:
        raise _invalid(path, f"{where}.{field}", "must be a number >= 0")
    return float(value)


def _number(path: str, where: str, value: object) -> float:
    """Validate a positive finite number of seconds."""
    if not _is_number(value) or value <= 0:
        raise _invalid(path, where, "must be a number > 0")
    return float(value)


def _integer(path: str, where: str, value: object, *, minimum: int) -> int:
    """Validate an integer of at least minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _invalid(path, where, f"must be an integer >= {minimum}")
    return value


def _is_number(value: object) -> TypeGuard[int | float]:
    """Tell whether value is a finite int or float (YAML booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _label(index: int, entry: object) -> str:
    """Name an entry of the providers list for error messages."""
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"providers[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")


def _invalid(path: str, where: str, problem: str) -> ConfigurationError:
    """Build the error for an unusable providers file."""
    return ConfigurationError(
        f"providers file {path}: {where} {problem}",
        details={"path": path, "field": where},
    )
