"""Patches of a library at run time (ads.local.patching): the undo puts back exactly what
was there, an inherited attribute shows through again, several undo last-first."""

from __future__ import annotations

import types

from ads.local.patching import patch, undo_all


class Base:
    def greet(self) -> str:
        return "base"


class Child(Base):
    @staticmethod
    def make() -> str:
        return "made"

    def own(self) -> str:
        return "own"


def test_given_an_own_method_when_patched_and_undone_then_the_original_is_back() -> None:
    original = Child.__dict__["own"]
    undo = patch(Child, "own", lambda self: "patched")
    assert Child().own() == "patched"
    undo()
    assert Child.__dict__["own"] is original
    assert Child().own() == "own"


def test_given_a_staticmethod_when_undone_then_it_is_a_staticmethod_again() -> None:
    original = Child.__dict__["make"]
    undo = patch(Child, "make", staticmethod(lambda: "patched"))
    assert Child.make() == "patched"
    undo()
    assert Child.__dict__["make"] is original
    assert Child().make() == "made"


def test_given_an_inherited_method_when_undone_then_the_subclass_holds_none_of_its_own() -> None:
    undo = patch(Child, "greet", lambda self: "patched")
    assert Child().greet() == "patched"
    undo()
    assert "greet" not in Child.__dict__
    assert Child().greet() == "base"
    Base.greet = lambda self: "changed later"  # type: ignore[method-assign]
    try:
        # Nothing of the patch shadows the base class any more.
        assert Child().greet() == "changed later"
    finally:
        del Base.greet
        Base.greet = lambda self: "base"  # type: ignore[method-assign]


def test_given_a_module_attribute_when_undone_then_the_value_is_back() -> None:
    module = types.ModuleType("library")
    module.clock = "real"  # type: ignore[attr-defined]
    undo = patch(module, "clock", "scaled")
    assert module.clock == "scaled"  # type: ignore[attr-defined]
    undo()
    assert module.clock == "real"  # type: ignore[attr-defined]


def test_given_two_patches_of_one_attribute_when_undone_together_then_the_first_value_is_back() -> (
    None
):
    module = types.ModuleType("library")
    module.value = 1  # type: ignore[attr-defined]
    undo = undo_all([patch(module, "value", 2), patch(module, "value", 3)])
    assert module.value == 3  # type: ignore[attr-defined]
    undo()
    assert module.value == 1  # type: ignore[attr-defined]
