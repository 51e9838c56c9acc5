"""Loading provider configuration: the built-ins and the LTB_PROVIDERS_FILE YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.errors import ConfigurationError
from app.providers import ModelPrice, ProviderConfig, load_provider_configs

GOOD_FILE = """
providers:
  - name: local
    kind: openai
    base_url: http://127.0.0.1:8080/v1
    api_key_env: null
    timeout_s: 120
    max_retries: 0
    max_concurrency: 4
    models:
      llama-3.1-8b: {input_per_mtok: 0, output_per_mtok: 0}
  - name: anthropic
    kind: anthropic
    base_url: http://127.0.0.1:9090
    api_key_env: MY_CLAUDE_KEY
    models:
      claude-x:
        input_per_mtok: 3
        output_per_mtok: 15
        cached_input_per_mtok: 0.3
"""


def _write(tmp_path: Path, text: str) -> str:
    """Write a providers file and return its path."""
    path = tmp_path / "providers.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_without_a_file_only_the_built_ins_are_loaded() -> None:
    configs = load_provider_configs(None, {})

    assert sorted(configs) == ["anthropic", "openai"]
    assert configs["openai"].kind == "openai"
    assert configs["openai"].api_key_env == "OPENAI_API_KEY"
    assert configs["openai"].base_url is None
    assert configs["anthropic"].kind == "anthropic"
    assert configs["anthropic"].api_key_env == "ANTHROPIC_API_KEY"
    assert configs["openai"].models["gpt-4o"] == ModelPrice(2.50, 10.00, 1.25)
    assert configs["anthropic"].models["claude-3-opus-20240229"] == ModelPrice(
        15.00, 75.00, 1.50
    )


def test_built_ins_show_the_base_url_the_sdk_would_take_from_the_environment() -> None:
    configs = load_provider_configs(
        None, {"OPENAI_BASE_URL": "http://127.0.0.1:1/v1", "ANTHROPIC_BASE_URL": ""}
    )

    assert configs["openai"].base_url == "http://127.0.0.1:1/v1"
    assert configs["anthropic"].base_url is None


def test_a_good_file_adds_providers_and_replaces_a_built_in(tmp_path: Path) -> None:
    configs = load_provider_configs(_write(tmp_path, GOOD_FILE), {})

    assert sorted(configs) == ["anthropic", "local", "openai"]
    assert configs["local"] == ProviderConfig(
        name="local",
        kind="openai",
        base_url="http://127.0.0.1:8080/v1",
        api_key_env=None,
        models={"llama-3.1-8b": ModelPrice(0.0, 0.0)},
        timeout_s=120.0,
        max_retries=0,
        max_concurrency=4,
    )
    assert configs["anthropic"] == ProviderConfig(
        name="anthropic",
        kind="anthropic",
        base_url="http://127.0.0.1:9090",
        api_key_env="MY_CLAUDE_KEY",
        models={"claude-x": ModelPrice(3.0, 15.0, 0.3)},
    )


def test_an_empty_providers_list_keeps_the_built_ins(tmp_path: Path) -> None:
    configs = load_provider_configs(_write(tmp_path, "providers: []\n"), {})

    assert sorted(configs) == ["anthropic", "openai"]


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")

    with pytest.raises(ConfigurationError, match=r"nope\.yaml: cannot be read"):
        load_provider_configs(missing, {})


def test_a_file_that_is_not_yaml_is_a_configuration_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "providers: [\n  - name: x\n")

    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load_provider_configs(path, {})


ENTRY = "  - {name: local, kind: openai, base_url: 'http://127.0.0.1:1/v1'"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"the file must be a mapping with a 'providers' list"),
        ("[]\n", r"the file must be a mapping with a 'providers' list"),
        ("providers: {}\n", r"the file must be a mapping with a 'providers' list"),
        ("providers:\n  - just-a-string\n", r"providers\[0\] must be a mapping"),
        (
            "providers:\n  - {kind: openai, base_url: 'http://127.0.0.1:1'}\n",
            r"providers\[0\]\.name must be a name",
        ),
        (
            "providers:\n  - {name: 'has space', kind: openai}\n",
            r"providers\[0\] \('has space'\)\.name must be a name",
        ),
        (
            "providers:\n  - {name: azure, kind: azure}\n",
            r"providers\[0\] \('azure'\)\.kind must be one of openai, anthropic",
        ),
        (
            "providers:\n  - {name: local, kind: openai}\n",
            r"\('local'\)\.base_url is required",
        ),
        (
            "providers:\n  - {name: local, kind: openai, base_url: 'ftp://x'}\n",
            r"\('local'\)\.base_url must be an http\(s\) URL",
        ),
        (
            "providers:\n" + ENTRY + ", api_key_env: 'not a var'}\n",
            r"\('local'\)\.api_key_env must be an environment variable name",
        ),
        (
            "providers:\n" + ENTRY + ", timeout_s: 0}\n",
            r"\('local'\)\.timeout_s must be a number > 0",
        ),
        (
            "providers:\n" + ENTRY + ", max_retries: -1}\n",
            r"\('local'\)\.max_retries must be an integer >= 0",
        ),
        (
            "providers:\n" + ENTRY + ", max_concurrency: 0}\n",
            r"\('local'\)\.max_concurrency must be an integer >= 1",
        ),
        (
            "providers:\n" + ENTRY + ", max_retries: true}\n",
            r"\('local'\)\.max_retries must be an integer >= 0",
        ),
        (
            "providers:\n" + ENTRY + ", api_key: sk-oops}\n",
            r"\('local'\) unknown field\(s\) api_key",
        ),
        (
            "providers:\n" + ENTRY + ", models: [gpt]}\n",
            r"\('local'\)\.models must be a mapping",
        ),
        (
            "providers:\n"
            + ENTRY
            + ", models: {m: {input_per_mtok: -1, output_per_mtok: 1}}}\n",
            r"\('local'\)\.models\['m'\]\.input_per_mtok must be a number >= 0",
        ),
        (
            "providers:\n" + ENTRY + ", models: {m: {input_per_mtok: 1}}}\n",
            r"\.models\['m'\]\.output_per_mtok must be a number >= 0",
        ),
        (
            "providers:\n"
            + ENTRY
            + ", models: {m: {input_per_mtok: 1, output_per_mtok: 1,"
            + " cached_input_per_mtok: cheap}}}\n",
            r"\.models\['m'\]\.cached_input_per_mtok must be a number >= 0",
        ),
        (
            "providers:\n"
            + ENTRY
            + ", models: {m: {input_per_mtok: 1, output_per_mtok: 1, per_image: 2}}}\n",
            r"\.models\['m'\] unknown field\(s\) per_image",
        ),
        (
            "providers:\n" + ENTRY + "}\n" + ENTRY + "}\n",
            r"providers\[1\] \('local'\) duplicate provider name",
        ),
    ],
)
def test_an_invalid_file_is_a_configuration_error_naming_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _write(tmp_path, text)

    with pytest.raises(ConfigurationError, match=message) as caught:
        load_provider_configs(path, {})

    assert caught.value.details["path"] == path
