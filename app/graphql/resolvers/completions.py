"""createCompletion: one real completion, as POST /v1/completions makes it."""

from __future__ import annotations

from typing import Any

from ariadne import MutationType, SchemaBindable

from app.completions import check_request, create_completion
from app.graphql.context import Info
from app.graphql.contract import check_schema

mutation = MutationType()


@mutation.field("createCompletion")
def resolve_create_completion(
    _obj: Any,
    info: Info,
    input: dict[str, Any],
) -> dict[str, Any]:
    """Check the input as REST would, then call the provider for real."""
    request = {key: value for key, value in input.items() if value is not None}
    # Refusals name the input's fields as the caller did (maxTokens, not max_tokens).
    input_type = info.parent_type.fields[info.field_name].args["input"].type
    check_schema("CompletionRequest", request, "input", input_type)
    runtime = info.context.runtime
    check_request(
        runtime.providers,
        request["provider"],
        request["prompt"],
        runtime.settings.max_prompt_chars,
    )

    completion: dict[str, Any] = runtime.call(
        create_completion(
            runtime.providers,
            request["provider"],
            request["model"],
            request["prompt"],
            request.get("max_tokens"),
            request.get("temperature"),
            info.context.request_id,
        )
    )
    return completion


BINDABLES: list[SchemaBindable] = [mutation]
