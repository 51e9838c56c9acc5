"""createEvaluation: a real evaluation, as POST /v1/evaluations makes it."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, SchemaBindable

from app.errors import BadRequest
from app.evaluations.runs import evaluate
from app.graphql.context import Info

# Root field -> the REST operation whose roles guard it.
OPERATIONS: dict[tuple[str, str], str] = {
    ("Mutation", "createEvaluation"): "create_evaluation",
}

mutation = MutationType()


@mutation.field("createEvaluation")
def resolve_create_evaluation(
    _obj: Any, info: Info, input: dict[str, Any]
) -> dict[str, Any]:
    """Score, store and announce the evaluation; its id, score and time."""
    body = {key: value for key, value in input.items() if value is not None}
    view = evaluate(info.context.runtime, body, info.context.principal)
    if view["score"] is None:
        # The original type has a non-null score: say why there is none rather
        # than invent one. The evaluation is stored and readable over REST.
        raise BadRequest(
            "No requested metric produced a score in 0..1 "
            f"(evaluation {view['evaluation_id']} is stored with the reasons)",
            details={"evaluation_id": view["evaluation_id"]},
        )
    return view


BINDABLES: list[SchemaBindable] = [mutation]
