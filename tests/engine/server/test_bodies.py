"""The value count that bounds a JSON body before it is parsed: strings count once, whatever
commas, brackets, quotes or backslashes they hold."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from floecli.engine.server.bodies import MAX_JSON_VALUES, check_shape

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=',[]{}"\\ab:'),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=5),
    max_leaves=50)


@given(JSON, st.integers(min_value=1, max_value=3))
def test_strings_count_once_however_many_commas_they_hold(value, copies):
    # thousands of commas and brackets in strings, few values: accepted
    padded = {"v": value, "pad": ",[{\\\"" * (MAX_JSON_VALUES * copies)}
    check_shape(json.dumps(padded).encode())


@pytest.mark.parametrize("body", [
    b"[" + b",".join([b"{}"] * (MAX_JSON_VALUES + 1)) + b"]",
    json.dumps(["a"] * (MAX_JSON_VALUES + 2)).encode(),
    json.dumps([["a,b"]] * MAX_JSON_VALUES).encode(),
    b"[" * (MAX_JSON_VALUES + 1),
], ids=["dicts", "strings", "lists of strings", "opened only"])
def test_too_many_values_are_refused(body):
    with pytest.raises(ValueError, match="JSON values"):
        check_shape(body)
