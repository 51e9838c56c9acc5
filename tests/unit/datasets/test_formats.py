"""Unit tests for parsing uploaded dataset files into items."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from app.datasets.formats import FORMATS, DatasetItem, ParsedDataset, parse_dataset
from app.errors import BadRequest, ErrorCode

SHARED_DATASETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
requires_shared_datasets = pytest.mark.skipif(
    not SHARED_DATASETS.is_dir(),
    reason=f"shared benchmark data not found at {SHARED_DATASETS} "
    "(it lives in shared/datasets beside the repository)",
)


def _shared_files(folder: str, pattern: str) -> list[tuple[str, bytes]]:
    """Return (file name, bytes) for the shared data files matching a pattern."""
    return [
        (path.name, path.read_bytes())
        for path in sorted((SHARED_DATASETS / folder).glob(pattern))
    ]


def _jsonl(*objects: object) -> bytes:
    """Return JSON Lines bytes with one object per line."""
    return "".join(json.dumps(obj) + "\n" for obj in objects).encode()


def _bad_request(format: str, files: list[tuple[str, bytes]], **kw: int) -> BadRequest:
    """Parse files that must be refused and return the error."""
    with pytest.raises(BadRequest) as caught:
        parse_dataset(format, files, **kw)
    return caught.value


# --- MMLU ------------------------------------------------------------------------


@requires_shared_datasets
def test_the_whole_mmlu_dev_split_parses_to_285_items_with_answers_in_a_to_d() -> None:
    files = _shared_files("mmlu/dev", "*.csv")
    assert len(files) == 57

    parsed = parse_dataset("mmlu-csv", files)

    assert parsed.format == "mmlu-csv"
    assert len(parsed.items) == 285
    assert {item.expected for item in parsed.items} == {"A", "B", "C", "D"}
    assert {item.answer_type for item in parsed.items} == {"choice"}
    assert all(item.choices is not None for item in parsed.items)
    assert {len(item.choices or []) for item in parsed.items} == {4}
    assert set(Counter(item.subject for item in parsed.items).values()) == {5}
    assert len({item.key for item in parsed.items}) == 285


@requires_shared_datasets
def test_the_first_mmlu_dev_item_is_read_field_for_field() -> None:
    parsed = parse_dataset("mmlu-csv", _shared_files("mmlu/dev", "abstract_*"))

    assert parsed.items[0] == DatasetItem(
        key="abstract_algebra/0",
        input="Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.",
        expected="B",
        choices=["0", "1", "2", "3"],
        answer_type="choice",
        subject="abstract_algebra",
        reference=None,
    )


@requires_shared_datasets
def test_a_real_crlf_mmlu_file_without_final_newline_keeps_its_quoted_fields() -> None:
    name = "high_school_statistics_dev.csv"
    data = (SHARED_DATASETS / "mmlu" / "dev" / name).read_bytes()
    assert b"\r\n" in data
    assert not data.endswith(b"\n")

    items = parse_dataset("mmlu-csv", [(name, data)]).items

    assert len(items) == 5
    assert items[-1].input.startswith("Which of the following sets has the smallest")
    assert "\nI: {1,2,3}\nII: {-10,10}\n" in items[-1].input
    assert items[-1].choices == ["I, II", "II, III", "III, I", "III, II"]
    assert items[-1].expected == "D"


@requires_shared_datasets
def test_the_mmlu_test_files_here_parse_to_2275_items() -> None:
    parsed = parse_dataset("mmlu-csv", _shared_files("mmlu/test", "*.csv"))

    assert len(parsed.items) == 2275
    assert Counter(item.subject for item in parsed.items)["professional_law"] == 1534


def test_a_crlf_mmlu_file_with_quoted_commas_newlines_and_no_final_newline() -> None:
    data = (
        b'"What, if anything, is 1+1?",1,2,"3, or\r\nfour",4,B\r\n'
        b'Second,"a ""quoted"" word",b,c,d,D'
    )

    items = parse_dataset("mmlu-csv", [("toy_test.csv", data)]).items

    assert [item.key for item in items] == ["toy/0", "toy/1"]
    assert items[0].input == "What, if anything, is 1+1?"
    assert items[0].choices == ["1", "2", "3, or\r\nfour", "4"]
    assert items[0].expected == "B"
    assert items[1].choices == ['a "quoted" word', "b", "c", "d"]
    assert items[1].expected == "D"


def test_an_mmlu_file_may_start_with_a_utf8_bom() -> None:
    data = "\ufeffQ?,w,x,y,z,A\n".encode()

    items = parse_dataset("mmlu-csv", [("bom_dev.csv", data)]).items

    assert items[0].input == "Q?"


def test_blank_lines_between_mmlu_records_are_skipped() -> None:
    data = b"Q1?,w,x,y,z,A\n\nQ2?,w,x,y,z,C\n\n"

    items = parse_dataset("mmlu-csv", [("gaps_dev.csv", data)]).items

    assert [item.expected for item in items] == ["A", "C"]


@pytest.mark.parametrize(
    ("file_name", "subject"),
    [
        ("abstract_algebra_dev.csv", "abstract_algebra"),
        ("world_religions_test.csv", "world_religions"),
        ("anatomy_val.csv", "anatomy"),
        ("dev/astronomy_dev.csv", "astronomy"),
        ("virology.csv", "virology"),
        ("test_taking_dev.csv", "test_taking"),
    ],
)
def test_the_mmlu_subject_comes_from_the_file_name(
    file_name: str, subject: str
) -> None:
    items = parse_dataset("mmlu-csv", [(file_name, b"Q?,w,x,y,z,A\n")]).items

    assert items[0].subject == subject
    assert items[0].key == f"{subject}/0"


def test_mmlu_keys_number_a_subjects_items_across_its_dev_and_test_files() -> None:
    files = [
        ("anatomy_test.csv", b"T1?,w,x,y,z,A\n"),
        ("anatomy_dev.csv", b"D1?,w,x,y,z,B\nD2?,w,x,y,z,C\n"),
    ]

    items = parse_dataset("mmlu-csv", files).items

    assert [(item.key, item.input) for item in items] == [
        ("anatomy/0", "D1?"),
        ("anatomy/1", "D2?"),
        ("anatomy/2", "T1?"),
    ]


# --- GSM8K -----------------------------------------------------------------------


@requires_shared_datasets
def test_the_full_gsm8k_test_split_parses_to_1319_number_items() -> None:
    parsed = parse_dataset("gsm8k-jsonl", _shared_files("gsm8k", "test.jsonl"))

    assert len(parsed.items) == 1319
    assert {item.answer_type for item in parsed.items} == {"number"}
    assert [item.key for item in parsed.items[:2]] == ["gsm8k/0", "gsm8k/1"]
    first = parsed.items[0]
    assert first.input.startswith("Janet\u2019s ducks lay 16 eggs per day.")
    assert first.expected == "18"
    assert first.reference is not None
    assert first.reference.endswith("\n#### 18")
    assert first.choices is None
    assert first.subject is None


@requires_shared_datasets
@pytest.mark.parametrize(
    ("final_line", "expected"),
    [("#### 2,125", "2125"), ("#### 1,450,000", "1450000"), ("#### -3", "-3")],
)
def test_gsm8k_final_answers_are_normalised(final_line: str, expected: str) -> None:
    parsed = parse_dataset("gsm8k-jsonl", _shared_files("gsm8k", "test.jsonl"))

    matching = [
        item
        for item in parsed.items
        if (item.reference or "").endswith("\n" + final_line)
    ]

    assert [item.expected for item in matching] == [expected]


def test_gsm8k_blank_lines_are_skipped_and_keys_count_items() -> None:
    data = (
        b'{"question": "Q1?", "answer": "1+1=<<1+1=2>>2\\n#### 2"}\n'
        b"\n"
        b'{"question": "Q2?", "answer": "So\\n#### 1,000"}'
    )

    items = parse_dataset("gsm8k-jsonl", [("train.jsonl", data)]).items

    assert [(item.key, item.expected) for item in items] == [
        ("gsm8k/0", "2"),
        ("gsm8k/1", "1000"),
    ]
    assert items[1].reference == "So\n#### 1,000"


# --- generic JSONL ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected", "answer_type", "choices"),
    [
        (
            {"input": "Q", "expected": "B", "choices": ["x", "y"]},
            "B",
            "choice",
            ["x", "y"],
        ),
        (
            {"input": "Q", "expected": "y", "choices": ["x", "y"]},
            "B",
            "choice",
            ["x", "y"],
        ),
        (
            {"input": "Q", "expected": " y ", "choices": ["x", "y"]},
            "B",
            "choice",
            ["x", "y"],
        ),
        (
            {"input": "Q", "expected": "A", "choices": ["B", "A"]},
            "A",
            "choice",
            ["B", "A"],
        ),
        ({"input": "Q", "expected": "2", "choices": [1, 2]}, "B", "choice", ["1", "2"]),
        ({"input": "Q", "expected": "1,000"}, "1000", "number", None),
        ({"input": "Q", "expected": 42}, "42", "number", None),
        ({"input": "Q", "expected": "-3"}, "-3", "number", None),
        ({"input": "Q", "expected": "Paris"}, "Paris", "text", None),
        ({"input": "Q", "expected": "Paris", "choices": None}, "Paris", "text", None),
    ],
)
def test_generic_jsonl_items_get_their_answer_type_from_expected_and_choices(
    line: dict[str, object],
    expected: str,
    answer_type: str,
    choices: list[str] | None,
) -> None:
    item = parse_dataset("jsonl", [("items.jsonl", _jsonl(line))]).items[0]

    assert (item.expected, item.answer_type, item.choices) == (
        expected,
        answer_type,
        choices,
    )
    assert item.subject is None


def test_a_json_decimal_expected_keeps_its_exact_value() -> None:
    data = b'{"input": "Q", "expected": 2.50}\n{"input": "R", "expected": 0.1}\n'

    items = parse_dataset("jsonl", [("items.jsonl", data)]).items

    assert [item.expected for item in items] == ["2.5", "0.1"]


def test_generic_keys_are_the_id_field_or_the_file_and_line() -> None:
    data = _jsonl(
        {"input": "Q1", "expected": "a", "id": "q-1"},
        {"input": "Q2", "expected": "b", "id": 7},
        {"input": "Q3", "expected": "c"},
    )

    items = parse_dataset("jsonl", [("my.items.jsonl", data)]).items

    assert [item.key for item in items] == ["q-1", "7", "my/3"]


# --- errors ----------------------------------------------------------------------

_MMLU_OK = b"Q?,w,x,y,z,A\n"
_GSM_OK = b'{"question": "Q", "answer": "#### 1"}\n'
_JSONL_OK = b'{"input": "Q", "expected": "x"}\n'

ERROR_CASES = [
    # (format, file bytes, line, words in the reason)
    ("mmlu-csv", _MMLU_OK + b"Q?,w,x,y,A\n", 2, "expected 6 columns"),
    ("mmlu-csv", _MMLU_OK + b"Q?,w,x,y,z,A,extra\n", 2, "got 7"),
    ("mmlu-csv", b"Q?,w,x,y,z,E\n", 1, "answer must be one of A-D"),
    ("mmlu-csv", b"Q?,w,x,y,z,a\n", 1, "answer must be one of A-D"),
    ("mmlu-csv", b'"Q\non\nthree lines",w,x,y,z,A\nQ?,w,x,y,z,\n', 4, "A-D"),
    ("mmlu-csv", b'"two\r\nlines",w,x,y,z,B\r\nQ?,w,x\r\n', 3, "got 3"),
    ("mmlu-csv", _MMLU_OK + b'"never closed,w,x,y,z,A\n', 2, "invalid CSV"),
    ("mmlu-csv", b'Q "x" y,"w"x,x,y,z,A\n', 1, "invalid CSV"),
    ("mmlu-csv", b" ,w,x,y,z,A\n", 1, "empty question"),
    ("gsm8k-jsonl", _GSM_OK + b"{not json}\n", 2, "invalid JSON"),
    (
        "gsm8k-jsonl",
        _GSM_OK + b"\n\n" + b'{"question": "Q"}\n',
        4,
        "missing field 'answer'",
    ),
    ("gsm8k-jsonl", b'{"answer": "#### 1"}\n', 1, "missing field 'question'"),
    ("gsm8k-jsonl", b'{"question": "Q", "answer": "no final line"}\n', 1, "####"),
    ("gsm8k-jsonl", b'{"question": "Q", "answer": "#### many"}\n', 1, "not a number"),
    ("gsm8k-jsonl", b'{"question": 3, "answer": "#### 1"}\n', 1, "must be a string"),
    ("gsm8k-jsonl", b'["question", "answer"]\n', 1, "JSON object"),
    ("jsonl", _JSONL_OK + b'{"input": "Q"}\n', 2, "missing field 'expected'"),
    ("jsonl", b'{"expected": "x"}\n', 1, "missing field 'input'"),
    ("jsonl", b'{"input": "", "expected": "x"}\n', 1, "must not be empty"),
    ("jsonl", b'{"input": "Q", "expected": null}\n', 1, "'expected' must be"),
    ("jsonl", b'{"input": "Q", "expected": true}\n', 1, "'expected' must be"),
    ("jsonl", b'{"input": "Q", "expected": "E", "choices": ["a", "b"]}\n', 1, "A-B"),
    ("jsonl", b'{"input": "Q", "expected": "c", "choices": ["a", "b"]}\n', 1, "A-B"),
    (
        "jsonl",
        b'{"input": "Q", "expected": "a", "choices": ["a", "a"]}\n',
        1,
        "several",
    ),
    ("jsonl", b'{"input": "Q", "expected": "A", "choices": "ab"}\n', 1, "'choices'"),
    ("jsonl", b'{"input": "Q", "expected": "A", "choices": ["a"]}\n', 1, "2 to 26"),
    ("jsonl", b'{"input": "Q", "expected": "A", "choices": ["a", {}]}\n', 1, "2 to 26"),
    ("jsonl", b'{"input": "Q", "expected": "x", "id": []}\n', 1, "'id'"),
    (
        "jsonl",
        _JSONL_OK + b'{"input": "Q", "expected": "x", "id": "items/1"}\n',
        2,
        "duplicate",
    ),
    (
        "jsonl",
        b'{"input": "Q", "expected": 1' + b"0" * 5000 + b"}\n",
        1,
        "invalid JSON",
    ),
    ("jsonl", b"[" * 100_000 + b"]" * 100_000 + b"\n", 1, "invalid JSON"),
    ("jsonl", b'{"input": "Q\\ud800", "expected": "x"}\n', 1, "surrogate"),
    ("jsonl", b'{"input": "Q", "expected": "x", "n": "\\udfff"}\n', 1, "surrogate"),
    ("jsonl", _JSONL_OK + _JSONL_OK + b"caf\xe9\n", 3, "not UTF-8"),
    ("mmlu-csv", _MMLU_OK + b"Q?,w,x,y,z,\xff\xfe\n", 2, "not UTF-8"),
    ("mmlu-csv", b"", 1, "empty file"),
    ("gsm8k-jsonl", b"\n  \r\n\n", 1, "empty file"),
    ("jsonl", b"\xef\xbb\xbf", 1, "empty file"),
]


@pytest.mark.parametrize(("format", "data", "line", "reason"), ERROR_CASES)
def test_bad_input_is_a_bad_request_naming_the_file_line_and_problem(
    format: str, data: bytes, line: int, reason: str
) -> None:
    error = _bad_request(format, [("items.jsonl", data)])

    assert error.code == ErrorCode.BAD_REQUEST
    assert error.status == 400
    assert error.details["file"] == "items.jsonl"
    assert error.details["line"] == line
    assert reason in error.details["reason"]
    assert error.message.startswith(f"items.jsonl, line {line}: ")


def test_the_error_names_the_file_that_is_wrong_among_several() -> None:
    files = [("a_dev.csv", _MMLU_OK), ("b_dev.csv", _MMLU_OK * 2 + b"Q,A\n")]

    error = _bad_request("mmlu-csv", files)

    assert (error.details["file"], error.details["line"]) == ("b_dev.csv", 3)


def test_an_unknown_format_is_refused_with_the_known_formats_listed() -> None:
    error = _bad_request("yaml", [("x.yaml", b"a: 1")])

    assert "yaml" in error.message
    assert error.details == {
        "format": "yaml",
        "known_formats": ["mmlu-csv", "gsm8k-jsonl", "jsonl"],
    }
    assert list(FORMATS) == error.details["known_formats"]


def test_an_upload_without_files_has_no_items() -> None:
    error = _bad_request("jsonl", [])

    assert "no items" in error.message


def test_the_same_file_name_twice_is_refused() -> None:
    error = _bad_request("jsonl", [("a.jsonl", _JSONL_OK), ("a.jsonl", _JSONL_OK)])

    assert error.details["files"] == ["a.jsonl"]


@pytest.mark.parametrize(
    ("files", "max_items", "file", "line"),
    [
        ([("a.jsonl", _JSONL_OK * 3)], 2, "a.jsonl", 3),
        ([("b.jsonl", _JSONL_OK * 2), ("a.jsonl", _JSONL_OK * 2)], 3, "b.jsonl", 2),
        ([("x_dev.csv", _MMLU_OK * 5)], 4, "x_dev.csv", 5),
    ],
)
def test_more_than_max_items_is_refused_at_the_first_item_too_many(
    files: list[tuple[str, bytes]], max_items: int, file: str, line: int
) -> None:
    format = "mmlu-csv" if file.endswith(".csv") else "jsonl"

    error = _bad_request(format, files, max_items=max_items)

    assert error.details == {
        "file": file,
        "line": line,
        "reason": f"more than {max_items} items",
        "max_items": max_items,
    }


def test_exactly_max_items_is_accepted() -> None:
    parsed = parse_dataset("jsonl", [("a.jsonl", _JSONL_OK * 3)], max_items=3)

    assert len(parsed.items) == 3


# --- content hash ----------------------------------------------------------------


def _parse_mmlu(files: list[tuple[str, bytes]]) -> ParsedDataset:
    return parse_dataset("mmlu-csv", files)


_TWO_FILES = [
    ("anatomy_dev.csv", b"Q1?,w,x,y,z,A\nQ2?,w,x,y,z,B\n"),
    ("virology_dev.csv", b"Q3?,w,x,y,z,C\n"),
]


def test_the_content_hash_is_a_sha256_hex_digest() -> None:
    digest = _parse_mmlu(_TWO_FILES).content_hash

    assert len(digest) == 64
    assert set(digest) <= set("0123456789abcdef")


def test_the_content_hash_and_items_do_not_depend_on_file_order() -> None:
    forward = _parse_mmlu(_TWO_FILES)
    backward = _parse_mmlu(_TWO_FILES[::-1])

    assert backward.content_hash == forward.content_hash
    assert backward.items == forward.items


@requires_shared_datasets
def test_the_mmlu_dev_hash_is_stable_across_file_order() -> None:
    files = _shared_files("mmlu/dev", "*.csv")

    assert (
        parse_dataset("mmlu-csv", files).content_hash
        == parse_dataset("mmlu-csv", files[::-1]).content_hash
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [(b"Q1?", b"Q1!"), (b"z,A", b"Z,A"), (b"z,B", b"z,C"), (b",w,", b",W,")],
)
def test_changing_one_character_changes_the_content_hash(
    old: bytes, new: bytes
) -> None:
    changed = [(_TWO_FILES[0][0], _TWO_FILES[0][1].replace(old, new, 1)), _TWO_FILES[1]]
    assert changed != _TWO_FILES

    assert _parse_mmlu(changed).content_hash != _parse_mmlu(_TWO_FILES).content_hash


def test_renaming_a_file_to_another_subject_changes_the_content_hash() -> None:
    renamed = [("botany_dev.csv", _TWO_FILES[0][1]), _TWO_FILES[1]]

    assert _parse_mmlu(renamed).content_hash != _parse_mmlu(_TWO_FILES).content_hash


def test_line_endings_and_a_bom_do_not_change_the_content_hash() -> None:
    crlf = [
        (name, b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))
        for name, data in _TWO_FILES
    ]

    assert _parse_mmlu(crlf).content_hash == _parse_mmlu(_TWO_FILES).content_hash


def test_escaped_surrogate_pairs_and_unicode_line_separators_are_kept() -> None:
    data = b'{"input": "emoji \\ud83d\\ude00 and \\u2028 here", "expected": "x"}\n'
    data += '{"input": "raw \u2028 separator", "expected": "y"}\n'.encode()

    items = parse_dataset("jsonl", [("u.jsonl", data)]).items

    assert [item.input for item in items] == [
        "emoji \U0001f600 and \u2028 here",
        "raw \u2028 separator",
    ]
    assert [item.key for item in items] == ["u/1", "u/2"]


@pytest.mark.parametrize("levels", [65, 300, 5000])
def test_a_jsonl_line_nested_deeper_than_64_levels_is_refused_by_line(
    levels: int,
) -> None:
    # The limit every client JSON has; 300 levels parsed, 5000 broke the parser
    # with Python's own recursion message.
    deep = "[" * (levels - 1) + "]" * (levels - 1)
    line = f'{{"input": "q", "expected": "a", "extra": {deep}}}\n'.encode()

    error = _bad_request(
        "jsonl", [("deep.jsonl", b'{"input": "q", "expected": "a"}\n' + line)]
    )

    assert error.message == (
        "deep.jsonl, line 2: invalid JSON: "
        "arrays and objects nest deeper than 64 levels"
    )


def test_a_jsonl_line_nested_64_levels_is_read() -> None:
    deep = "[" * 63 + "]" * 63
    line = f'{{"input": "q", "expected": "a", "extra": {deep}}}\n'.encode()

    assert len(parse_dataset("jsonl", [("ok.jsonl", line)]).items) == 1
