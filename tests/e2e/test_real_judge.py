"""The real local model (SmolLM2 under llama.cpp) as the judge of an evaluation.

SmolLM2-135M is a weak judge: it may or may not follow the rubric. What must hold
either way is the contract: every judged value is in range, or null with the
reason, and the judge's usage and cost are accounted for.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.live_server import live_server
from tests.support.llm_server import MODEL_ALIAS

pytestmark = pytest.mark.e2e

ADMIN_PASSWORD = "e2e-judge-admin-password"
JUDGED = ["relevance", "coherence"]  # one call each, two with a retry


@pytest.mark.timeout(600)
def test_a_real_model_judges_an_evaluation(
    tmp_path: Path, providers_file: Path
) -> None:
    env = {"LTB_PROVIDERS_FILE": str(providers_file)}
    body = {
        "provider": "local",
        "model": MODEL_ALIAS,
        "input": "What is the capital of France?",
        "output": "The capital of France is Paris.",
        "expected": "Paris",
        "metrics": [*JUDGED, "contains"],
    }

    with live_server(tmp_path / "data", env, ADMIN_PASSWORD) as server:
        response = server.client.post("/v1/evaluations", json=body, timeout=300)
        assert response.status_code == 201, response.text
        result = response.json()
        again = server.client.post("/v1/evaluations", json=body, timeout=300).json()

    assert result["metrics"]["contains"] == 1.0
    for name in JUDGED:
        detail = result["details"][name]
        value = result["metrics"][name]
        assert value is None or 0.0 <= value <= 1.0, (name, value)
        assert (value is None) == (detail["reason"] is not None), detail
        assert 1 <= detail["judge"]["calls"] <= 2
        assert detail["judge"]["prompt_tokens"] > 0
        assert detail["judge"]["cost_usd"] > 0
        if value is not None:  # a value is cached, and the second ask is free
            assert again["details"][name]["cached"] is True
            assert again["metrics"][name] == value
    values = [v for v in result["metrics"].values() if v is not None]
    assert result["score"] == pytest.approx(sum(values) / len(values))
