"""Payload filters: every operator, paths, type strictness, validation with paths, bounded cost."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from herald.domain.filters import FilterError, compile_filter

DATA: dict[str, Any] = {
    "convDetails": {"convId": "c1", "skill": "sales"},
    "amount": 7,
    "price": 2.5,
    "name": "abacus",
    "tags": ["a", "x"],
    "flag": True,
    "nothing": None,
    "items": [{"sku": "s1", "qty": 2}, {"sku": "s2", "qty": 0}],
}


def matches(spec: dict[str, Any], data: Any = DATA) -> bool:
    return compile_filter(spec).matches(data)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"convDetails.convId": "c1"}, True),
        ({"convDetails.convId": "c2"}, False),
        ({"convDetails.convId": {"$eq": "c1"}}, True),
        ({"convDetails": {"convId": "c1", "skill": "sales"}}, True),  # implicit deep $eq
        ({"convDetails": {"convId": "c1"}}, False),
        ({"amount": {"$neq": 8}}, True),
        ({"amount": {"$neq": 7}}, False),
        ({"missing": {"$neq": 7}}, True),
        ({"amount": {"$gt": 5, "$lte": 10}}, True),
        ({"amount": {"$gt": 7}}, False),
        ({"amount": {"$gte": 7}}, True),
        ({"amount": {"$lt": 7.5}}, True),
        ({"amount": {"$lte": 6}}, False),
        ({"price": {"$gt": 2}}, True),
        ({"name": {"$lt": "abc"}}, True),
        ({"name": {"$gt": "abc"}}, False),
        ({"tags": {"$in": ["a", "b"]}}, True),  # any element of a list value
        ({"tags": {"$in": ["b", "c"]}}, False),
        ({"convDetails.skill": {"$in": ["sales", "support"]}}, True),
        ({"convDetails.skill": {"$nin": ["sales"]}}, False),
        ({"convDetails.skill": {"$nin": ["support"]}}, True),
        ({"missing": {"$nin": ["x"]}}, True),
        ({"missing": {"$in": ["x"]}}, False),
        ({"nothing": {"$exists": True}}, True),  # null is present
        ({"missing": {"$exists": False}}, True),
        ({"amount": {"$exists": False}}, False),
        ({"name": {"$regex": "^ab"}}, True),
        ({"name": {"$regex": "cus$"}}, True),
        ({"name": {"$regex": "^b"}}, False),
        ({"nothing": None}, True),
        ({"flag": True}, True),
    ],
)
def test_operators(spec: dict[str, Any], expected: bool) -> None:
    assert matches(spec) is expected


def test_dotted_paths_and_list_indexes() -> None:
    assert matches({"items.0.sku": "s1"})
    assert matches({"items.1.qty": {"$lt": 1}})
    assert not matches({"items.2.sku": {"$exists": True}})
    assert matches({"tags.1": "x"})
    assert not matches({"amount.x": {"$exists": True}})  # into a scalar
    assert not matches({"items.first": {"$exists": True}})  # non-numeric index into a list


def test_type_mismatch_never_matches_and_never_raises() -> None:
    assert not matches({"amount": {"$gt": "5"}})
    assert not matches({"name": {"$gt": 1}})
    assert not matches({"amount": "7"})
    assert not matches({"flag": 1})  # booleans are not numbers
    assert not matches({"amount": True})
    assert matches({"amount": 7.0})
    assert not matches({"tags": {"$regex": "a"}})  # regex on strings only
    assert not matches({"nothing": {"$lt": 1}})
    for data in (None, [], "text", 5, {"amount": {"nested": 1}}):
        assert not matches({"amount": {"$gt": 5}}, data)


def test_logical_nesting() -> None:
    assert matches({"$or": [{"amount": 1}, {"name": {"$regex": "^ab"}}]})
    assert not matches({"$or": [{"amount": 1}, {"name": "x"}]})
    assert matches({"$and": [{"amount": 7}, {"tags": {"$in": ["a"]}}]})
    assert not matches({"$and": [{"amount": 7}, {"tags": {"$in": ["z"]}}]})
    assert matches({"$not": {"amount": 1}})
    assert not matches({"$not": {"$or": [{"amount": 1}, {"amount": 7}]}})
    assert matches(
        {"$and": [{"$not": {"$and": [{"amount": 7}, {"flag": False}]}}, {"convDetails.convId": "c1"}]}
    )
    # Several keys in one object are ANDed.
    assert not matches({"amount": 7, "name": "nope"})


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"$nor": []}, "filter.$nor"),
        ({"amount": {"$between": [1, 2]}}, "filter.amount.$between"),
        ({"$and": [{"a": 1}, {"data.amount": {"$gt": [1]}}]}, "filter.$and.1.data.amount.$gt"),
        ({"$or": [{"amount": {"$gt": True}}]}, "filter.$or.0.amount.$gt"),
        ({"$and": {"a": 1}}, "filter.$and"),
        ({"$or": []}, "filter.$or"),
        ({"$not": [1]}, "filter.$not"),
        ({"x": {"$in": "a"}}, "filter.x.$in"),
        ({"x": {"$exists": 1}}, "filter.x.$exists"),
        ({"x": {"$regex": 5}}, "filter.x.$regex"),
        ({"x": {"$regex": "(unclosed"}}, "filter.x.$regex"),
        ({"x": {"$regex": r"(a)\1"}}, "filter.x.$regex"),  # backreference
        ({"x": {"$regex": "(?=a)b"}}, "filter.x.$regex"),  # lookaround
        ({"x": {"$regex": "a" * 300}}, "filter.x.$regex"),
        ({"x": {"$in": list(range(21))}}, "filter.x.$in"),
        ({"x": {"$eq": 1, "plain": 2}}, "filter.x"),
        ({"a..b": 1}, "filter.a..b"),
        ({}, "filter"),
        ({"x": {"$gt": float("nan")}}, "filter.x.$gt"),
    ],
)
def test_validation_errors_name_the_path(spec: dict[str, Any], path: str) -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter(spec)
    assert caught.value.path == path, caught.value


def test_not_an_object() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter([1])  # type: ignore[arg-type]
    assert caught.value.path == "filter"


def test_size_limits() -> None:
    many = {f"f{i}": i for i in range(51)}
    with pytest.raises(FilterError, match="too many conditions"):
        compile_filter(many)
    compile_filter({f"f{i}": i for i in range(50)})

    deep: dict[str, Any] = {"a": 1}
    for _ in range(8):
        deep = {"$not": deep}
    with pytest.raises(FilterError, match="nested too deeply") as caught:
        compile_filter(deep)
    assert caught.value.path.startswith("filter.$not.$not")
    shallow: dict[str, Any] = {"a": 1}
    for _ in range(7):
        shallow = {"$not": shallow}
    compile_filter(shallow)


def test_catastrophic_patterns_run_in_linear_time() -> None:
    evil = compile_filter({"s": {"$regex": "(a+)+$"}})
    start = time.perf_counter()
    assert not evil.matches({"s": "a" * 50_000 + "b"})
    assert evil.matches({"s": "aaa"})
    nested = compile_filter({"s": {"$regex": "^(a|aa)*c$"}})
    assert not nested.matches({"s": "a" * 50_000})
    assert time.perf_counter() - start < 2.0


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False),
    st.sampled_from(["", "a", "b", "ab"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)
    ),
    max_leaves=8,
)
paths = st.sampled_from(["a", "b", "a.b", "a.0", "c.a.b", "b.1"])
ops = st.sampled_from(["$eq", "$neq", "$gt", "$gte", "$lt", "$lte"])


@st.composite
def leaf_filters(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["cmp", "in", "exists", "regex"]))
    path = draw(paths)
    if kind == "cmp":
        op = draw(ops)
        operand = draw(json_values if op in ("$eq", "$neq") else st.one_of(st.integers(-5, 5), st.text("ab")))
        return {path: {op: operand}}
    if kind == "in":
        return {path: {draw(st.sampled_from(["$in", "$nin"])): draw(st.lists(json_scalars, max_size=4))}}
    if kind == "exists":
        return {path: {"$exists": draw(st.booleans())}}
    return {path: {"$regex": draw(st.sampled_from(["^a", "b$", "a|b", "^$"]))}}


filters = st.recursive(
    leaf_filters(),
    lambda inner: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda f: {"$not": f}, inner),
    ),
    max_leaves=6,
)
documents = st.dictionaries(st.sampled_from(["a", "b", "c"]), json_values, max_size=3)


@settings(max_examples=300, deadline=None)
@given(spec=filters, data=documents)
def test_not_is_negation(spec: dict[str, Any], data: dict[str, Any]) -> None:
    assert compile_filter({"$not": spec}).matches(data) is not compile_filter(spec).matches(data)


@settings(max_examples=300, deadline=None)
@given(path=paths, value=json_scalars, data=documents)
def test_in_of_one_is_eq_on_scalars(path: str, value: Any, data: dict[str, Any]) -> None:
    from herald.domain.filters import MISSING, resolve

    found = resolve(data, tuple(path.split(".")))
    in_one = compile_filter({path: {"$in": [value]}}).matches(data)
    eq = compile_filter({path: {"$eq": value}}).matches(data)
    if found is MISSING or not isinstance(found, list):
        assert in_one is eq
    # $nin [v] is the negation of $in [v], everywhere.
    assert compile_filter({path: {"$nin": [value]}}).matches(data) is not in_one


@settings(max_examples=200, deadline=None)
@given(spec=filters, data=json_values)
def test_matching_never_raises(spec: dict[str, Any], data: Any) -> None:
    compile_filter(spec).matches(data)
