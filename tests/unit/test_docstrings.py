"""Every public name of coroloop's public modules has a docstring.

The API reference (docs/reference.md, mkdocstrings) is generated from them, so a
name without one is a blank entry on the site.  The walk is over whatever is public
at the time, so names added later are held to the same rule without editing this
file:

* each name in a module's ``__all__`` that is coroloop's own object (asyncio's
  exceptions, interfaces and constants are asyncio's, documented there);
* each public method, property, classmethod and staticmethod of those classes that a
  coroloop class defines itself (what is inherited from asyncio's bases is asyncio's).

A docstring is the object's own ``__doc__``: neither ``inspect.getdoc``'s inheritance
from a base class nor a property's fallback counts, because mkdocstrings reads the
source and shows neither.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

MODULES = ("coroloop", "coroloop.testing", "coroloop.debug")


def _is_ours(obj) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == "coroloop" or module.startswith("coroloop.")


def _own_doc(obj) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return (doc or "").strip()


def _members(cls: type):
    """(where it is defined, function-like object) for the public members coroloop's
    classes in *cls*'s MRO define, the nearest definition of each name."""
    seen: set[str] = set()
    for klass in cls.__mro__:
        if not _is_ours(klass):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(value, (classmethod, staticmethod)):
                value = value.__func__
            if isinstance(value, property):
                yield f"{klass.__module__}.{klass.__qualname__}.{name}", value
            elif inspect.isfunction(value) or inspect.ismethoddescriptor(value):
                yield f"{klass.__module__}.{klass.__qualname__}.{name}", value


def undocumented(module_name: str) -> list[str]:
    """The public names of *module_name* (and their classes' members) that have no
    docstring; a member is named where it is defined (``coroloop._core.loop.
    CoreEventLoop.stop``), once however many public classes inherit it."""
    module = importlib.import_module(module_name)
    missing = []
    if not (module.__doc__ or "").strip():
        missing.append(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or callable(obj)) or not _is_ours(obj):
            continue  # a constant, or asyncio's own object
        if not _own_doc(obj):
            missing.append(f"{module_name}.{name}")
        if inspect.isclass(obj):
            missing += [where for where, member in _members(obj)
                        if not (member.__doc__ or "").strip()]
    return sorted(set(missing))


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_has_a_docstring(module_name):
    assert undocumented(module_name) == []


def test_the_walk_sees_methods_properties_and_functions():
    # The check itself: a class defined here with gaps is reported member by member.
    class Sample:
        def documented(self):
            """Yes."""

        def bare(self):
            pass

        @property
        def prop(self):
            return 1

        @classmethod
        def make(cls):
            pass

        def _private(self):
            pass

    Sample.__module__ = "coroloop.sample"
    prefix = "coroloop.sample.test_the_walk_sees_methods_properties_and_functions.<locals>"
    assert sorted(q for q, m in _members(Sample) if not (m.__doc__ or "").strip()) == [
        f"{prefix}.Sample.bare", f"{prefix}.Sample.make", f"{prefix}.Sample.prop"]
    assert not _own_doc(Sample)
