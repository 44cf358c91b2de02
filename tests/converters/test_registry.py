"""Handler registry: version ranges, duplicate detection, lookup errors that list what exists."""

import pytest

from tensorbridge.converters.registry import DuplicateHandlerError, Registry
from tensorbridge.errors import UnsupportedOpError


def make():
    r = Registry("test->ir", version_axis="target opset")

    @r.register("Squeeze", until=12)
    def old(ctx, node):
        return "old"

    @r.register("Squeeze", since=13)
    def new(ctx, node):
        return "new"

    @r.register("Relu", "Relu6")
    def relu(ctx, node):
        return "relu"

    return r


def test_lookup_picks_the_range_holding_the_version():
    r = make()
    assert r.lookup("Squeeze", 11).fn(None, None) == "old"
    assert r.lookup("Squeeze", 13).fn(None, None) == "new"
    assert r.lookup("Relu6", 26).where.endswith("make.<locals>.relu")


def test_resolve_is_a_table_for_one_version():
    table = make().resolve(12)
    assert table[("", "Squeeze")].fn(None, None) == "old"
    assert sorted(op for _, op in table) == ["Relu", "Relu6", "Squeeze"]


def test_overlapping_ranges_are_refused_at_registration():
    r = make()
    with pytest.raises(DuplicateHandlerError, match="Squeeze registered twice"):

        @r.register("Squeeze", since=12, until=14)
        def clash(ctx, node):
            return None


def test_unknown_op_names_the_direction_and_the_ranges():
    r = make()
    with pytest.raises(UnsupportedOpError, match="test->ir: unsupported ops: Conv"):
        r.lookup("Conv", 13)
    r2 = Registry("x", "opset")
    r2.register("Foo", since=18)(lambda c, n: None)
    with pytest.raises(UnsupportedOpError, match="handled for opset 18.."):
        r2.lookup("Foo", 13)
