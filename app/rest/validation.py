"""Request body validators that report every failing field, not just the first."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from connexion.json_schema import Draft4RequestValidator
from connexion.validators import (
    AbstractRequestBodyValidator,
    FormDataValidator,
    JSONRequestBodyValidator,
    MultiPartFormDataValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, FormatChecker, ValidationError, validators
from jsonschema.protocols import Validator
from starlette.datastructures import FormData, Headers
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import Receive, Scope

from app import jsontext
from app.errors import BadRequest

MAX_MESSAGE_CHARS = 200
_MISSING = re.compile(r"^'(.+)' is a required property$")
# RFC 3339 date-time, as JSON Schema's "date-time" format means it: a full date,
# a full time and an offset.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

# jsonschema checks "date-time" only when the optional rfc3339-validator package
# is installed; without it any string passed (an empty `expires_at` made a key
# that never expires, a malformed one a 500). The format is checked here instead.
FORMAT_CHECKER = FormatChecker()
FORMAT_CHECKER.checkers = dict(Draft4Validator.FORMAT_CHECKER.checkers)


def parse_date_time(value: str) -> datetime:
    """An RFC 3339 date-time as an aware datetime in UTC; ValueError when it is not."""
    if not _DATE_TIME.match(value):
        raise ValueError(f"not an RFC 3339 date-time: {value[:40]!r}")
    try:
        # Raises for month 13 or hour 25, and for instants outside years 1-9999.
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        return parsed.astimezone(UTC)
    except OverflowError as e:
        raise ValueError(str(e)) from e


def _is_date_time(value: object) -> bool:
    """Whether a string is an RFC 3339 date-time; other types are not our concern."""
    if isinstance(value, str):
        parse_date_time(value)
    return True


FORMAT_CHECKER.checks("date-time", raises=ValueError)(_is_date_time)


@functools.lru_cache(maxsize=256)
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """A JSON Schema ``pattern`` compiled with ECMA-262's meaning of ``$``.

    In ECMA-262 (what JSON Schema patterns are) ``$`` matches at the end of the
    input only; in Python it also matches before a final newline, so jsonschema
    accepted "admin\\n" for ``^[A-Za-z0-9._@-]+$``: a look-alike user name. Each
    ``$`` that is neither escaped nor in a character class becomes ``\\Z``.
    """
    translated = []
    in_class = False
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            translated.append(pattern[position : position + 2])
            position += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        translated.append(char)
        position += 1
    return re.compile("".join(translated))


def _pattern(
    validator: Validator, pattern: str, instance: Any, _schema: Any
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(
        instance
    ):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Connexion's request validator (readOnly/writeOnly, defaults) and plain Draft 4,
# each with the ECMA-262 pattern keyword.
RequestValidator = validators.extend(Draft4RequestValidator, {"pattern": _pattern})
SchemaValidator = validators.extend(Draft4Validator, {"pattern": _pattern})


class _RefuseEmptyBody(AbstractRequestBodyValidator):  # type: ignore[misc]
    """Refuse an empty required body saying so and what to send.

    Connexion's own refusal, "RequestBody is required", told a user who sent
    nothing (an upload whose file list was empty, a chunked body without data)
    neither that the body was empty nor what it should have held.
    """

    # What to send, as the message says it; each body validator sets its own.
    WHAT: str = "a body"
    _required: bool
    _schema: dict[str, Any]

    async def wrap_receive(
        self, receive: Receive, *, scope: Scope
    ) -> tuple[Receive, Scope]:
        """Refuse an empty required body; otherwise Connexion's validation."""
        if (
            self._required
            and self._schema.get("default") is None
            and not _has_content(scope)
        ):
            raise empty_body(self.WHAT, self._schema)
        wrapped: tuple[Receive, Scope] = await super().wrap_receive(
            receive, scope=scope
        )
        return wrapped


def _has_content(scope: Scope) -> bool:
    # Chunked bodies have their Content-Length by now (ChunkedBodyMiddleware), and
    # one that is not a number was refused before (BodySizeLimitMiddleware).
    length = Headers(scope=scope).get("content-length", "0")
    return length.isdigit() and int(length) > 0


def empty_body(what: str, schema: dict[str, Any]) -> BadRequest:
    """The refusal of an empty body that should have held ``what`` with ``schema``."""
    required = [str(name) for name in schema.get("required", [])]
    if required:
        *others, last = required
        names = f"{', '.join(others)} and {last}" if others else last
        noun = "fields" if others else "field"
        message = f"Request body is empty: send {what} with the {noun} {names}"
        errors: list[dict[str, str | None]] = [
            {"field": name, "message": "is required"} for name in required
        ]
    else:
        message = f"Request body is empty: send {what}"
        optional = [str(name) for name in schema.get("properties", {})]
        if optional:
            # A body of optional fields (a PATCH): say which it may hold.
            message += f" with one or more of the fields {', '.join(optional)}"
        errors = [{"field": None, "message": "body is required"}]
    return BadRequest(message, details={"errors": errors})


class AllErrorsJSONBodyValidator(_RefuseEmptyBody, JSONRequestBodyValidator):  # type: ignore[misc]
    """JSON body validation whose error names each failing field in ``details``."""

    WHAT = "a JSON object"

    async def _parse(self, stream: Any, scope: Scope) -> Any:
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode(self._encoding)
        except (UnicodeDecodeError, LookupError) as e:
            raise BadRequest(
                "Request body is not valid UTF-8 text",
                details={"errors": [{"field": None, "message": str(e)}]},
            ) from e
        if not text:
            return None
        try:
            body = jsontext.loads(text)
        except (jsontext.NonFiniteNumber, jsontext.TooDeep) as e:
            raise BadRequest(
                f"Request body is not valid JSON: {e}",
                details={"errors": [{"field": None, "message": str(e)}]},
            ) from e
        except json.JSONDecodeError as e:
            raise BadRequest(
                f"Request body is not valid JSON: {e.msg} at line {e.lineno} "
                f"column {e.colno}",
                details={"errors": [{"field": None, "message": e.msg}]},
            ) from e
        except ValueError as e:  # integers of 4300+ digits
            raise BadRequest(
                "Request body is not acceptable JSON: a number is too long",
                # Python's own message quotes its interpreter limit and setting.
                details={
                    "errors": [{"field": None, "message": "a number is too long"}]
                },
            ) from e
        check_storable(body)
        return body

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if not self._nullable and body is None:
            raise BadRequest(
                "Request body must not be empty",
                details={"errors": [{"field": None, "message": "body is required"}]},
            )
        validator = RequestValidator(self._schema, format_checker=FORMAT_CHECKER)
        refuse_invalid(validator, body)
        return None


def check_storable(body: Any) -> None:
    """Refuse what JSON carries but no database stores (lone surrogates, NUL)."""
    # JSON may carry what no database stores: lone surrogates ("\ud800") are not
    # UTF-8, and PostgreSQL text cannot hold NUL. Refuse both up front.
    dumped = json.dumps(body, ensure_ascii=False)
    try:
        dumped.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadRequest(
            "Request body contains a lone surrogate, which is not valid Unicode",
            details={"errors": [{"field": None, "message": "invalid unicode"}]},
        ) from e
    if _holds_nul(body):
        raise BadRequest(
            "Request body contains a NUL character",
            details={"errors": [{"field": None, "message": "NUL character"}]},
        )


def _holds_nul(value: Any) -> bool:
    # Search the parsed strings, not the dumped JSON text: a string holding a
    # backslash and "u0000" (an escape written out, as in a GraphQL document)
    # dumps to text that contains the escaped form of NUL without holding one.
    # A loop, not recursion: GraphQL arguments reach here without jsontext's
    # depth limit.
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, str):
            if "\x00" in current:
                return True
        elif isinstance(current, dict):
            pending.extend(current.keys())
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return False


def refuse_invalid(validator: Validator, body: Any) -> None:
    """BadRequest naming every field of body that fails validator's schema."""
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    if errors:
        described = [describe_error(error) for error in errors]
        fields = named_once(str(d["field"] or "body") for d in described)
        raise BadRequest(
            f"Request body is invalid: {fields}", details={"errors": described}
        )


def named_once(fields: Iterable[str]) -> str:
    """The fields of a refusal, each once ("name" fails minLength and pattern)."""
    return ", ".join(dict.fromkeys(fields))


def describe_error(error: ValidationError) -> dict[str, Any]:
    """``{field, message}`` of one schema failure, never echoing a password."""
    path = list(error.path)
    # jsonschema reports each missing property as its own error, on the parent.
    missing = _MISSING.match(error.message) if error.validator == "required" else None
    if missing:
        path.append(missing.group(1))
    field = ".".join(str(part) for part in path) or None
    return {"field": field, "message": _safe_message(field, error)}


def _safe_message(field: str | None, error: ValidationError) -> str:
    # jsonschema quotes the offending value: never echo a password, and never a
    # megabyte of someone's input. The whole body, or an array or object, may
    # hold a password (a login body sent as an array): only a field's own scalar
    # value is quoted back.
    if field and "password" in field.split(".")[-1]:
        if error.validator in _NAMES_KEYS_ONLY:
            return str(error.message)  # "'password' is a required property"
        return _rule(error)  # the rule and its limit, never the value
    quotes_value = error.validator not in _NAMES_KEYS_ONLY
    if quotes_value and (field is None or isinstance(error.instance, dict | list)):
        return _rule(error)
    message = str(error.message)
    if error.instance is None or isinstance(error.instance, bool):
        # jsonschema quotes values as Python does ("None is not of type ..."):
        # the client sent JSON, null, true or false.
        python = repr(error.instance)
        if message.startswith(python):
            message = json.dumps(error.instance) + message[len(python) :]
    if len(message) > MAX_MESSAGE_CHARS:
        # jsonschema puts the value first ("'aaa...' is too long"): what failed
        # would be cut off, so name the rule and its limit instead.
        return _rule(error)
    return message


# Rules whose message names properties of the object, never its values.
_NAMES_KEYS_ONLY = frozenset({"required", "additionalProperties"})


def _rule(error: ValidationError) -> str:
    fields = list(error.schema.get("properties", {})) if error.schema else []
    if error.validator == "minProperties" and fields:
        # An object of optional fields ({} to a PATCH): say which it may hold.
        return (
            f"needs at least {error.validator_value} of the fields {', '.join(fields)}"
        )
    limit = json.dumps(error.validator_value, default=str)
    if len(limit) > 60:
        limit = limit[:60] + "..."
    return f"does not satisfy '{error.validator}' ({limit})"


class AllErrorsParameterValidator(ParameterValidator):  # type: ignore[misc]
    """Parameter validation naming every failing parameter, one line each."""

    def validate_request(self, request: Any) -> None:
        errors: list[dict[str, Any]] = []
        if self.strict_validation:
            extra = self.validate_query_parameter_list(
                request, security_params=self.security_query_params
            )
            errors += [
                {"field": name, "message": "unknown query parameter"}
                for name in sorted(extra)
            ]
        sources = {
            "query": request.query_params,
            "path": request.path_params,
            "header": request.headers,
        }
        for location, values in sources.items():
            for param in self.parameters.get(location, []):
                message = _parameter_error(param, values.get(param["name"]))
                if message:
                    errors.append({"field": param["name"], "message": message})
        if errors:
            fields = ", ".join(e["field"] for e in errors)
            raise BadRequest(
                f"Invalid parameters: {fields}", details={"errors": errors}
            )


def _parameter_error(param: dict[str, Any], value: Any) -> str | None:
    if value is None:
        return "is required" if param.get("required") else None
    validator = SchemaValidator(param.get("schema", {}), format_checker=FORMAT_CHECKER)
    error = next(iter(validator.iter_errors(value)), None)
    # As for bodies: a long value (a 5,000-character id) is not quoted back.
    return _safe_message(param["name"], error) if error is not None else None


class _ClosingMultiPartParser(MultiPartParser):
    """Starlette's parser, closing the uploaded files it spooled once parsed.

    Connexion parses multipart bodies only to validate them (the raw body is
    replayed to Flask) and never closes the temporary files the parser opens.
    """

    async def parse(self) -> FormData:
        try:
            form: FormData = await super().parse()
        except MultiPartException as e:
            raise BadRequest(f"Malformed multipart body: {e.message}") from e
        await form.close()
        return form


class _AllErrorsForm:
    """Form validation whose error names each failing field, as for JSON bodies.

    Connexion's own reports only the first failure, as text with no field, quotes
    the value (a password from a login form included) and logs it at ERROR.
    """

    # Set and defined by Connexion's FormDataValidator, which comes after this
    # class in the method resolution order.
    _strict_validation: bool
    _schema: dict[str, Any]

    def _validate(self, body: Any) -> dict[str, Any] | None:
        if self._strict_validation:
            # Connexion's own strict check names the fields in its text only.
            extra = sorted(set(body) - set(self._schema.get("properties", {})))
            if extra:
                raise BadRequest(
                    f"Request body is invalid: {', '.join(extra)}",
                    details={
                        "errors": [
                            {"field": name, "message": "not a field of this form"}
                            for name in extra
                        ]
                    },
                )
        validator = RequestValidator(self._schema, format_checker=FORMAT_CHECKER)
        refuse_invalid(validator, body)
        return None


class AllErrorsFormDataValidator(
    _AllErrorsForm,
    _RefuseEmptyBody,
    FormDataValidator,  # type: ignore[misc]
):
    """URL-encoded forms (the results page's login) validated as JSON bodies are."""

    WHAT = "an application/x-www-form-urlencoded form"


class ClosingMultiPartFormDataValidator(
    _AllErrorsForm,
    _RefuseEmptyBody,
    MultiPartFormDataValidator,  # type: ignore[misc]
):
    """Multipart validation that does not leak temporary files."""

    WHAT = "multipart/form-data"

    @property
    def _form_parser_cls(self) -> type[MultiPartParser]:
        return _ClosingMultiPartParser
