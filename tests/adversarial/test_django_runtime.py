"""``poolwarden.runtime.django`` and ``instrument()``'s Django door under junk input.

Whatever is handed to ``instrument()`` that is not a pool it supports — numbers, strings that
are no Django alias (with Django loaded but not configured, as in this process), containers,
objects that look like a Django connection but have no native pool — the answer is a
``TypeError`` whose one-line message names what was given; nothing else escapes (no
``ImproperlyConfigured``, no ``AttributeError``). ``reset_after_fork()`` in a process where
Django is not configured does nothing and says so (0). Before the fix, a string handed to
``instrument()`` with Django loaded but not configured escaped as ``ImproperlyConfigured``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from poolwarden.runtime.django.fork import reset_after_fork
from poolwarden.runtime.monitor import instrument

from .contract import thrown

THROWN = thrown("Django runtime")

#: generated inputs per test, reported in the adversarial closing note
EXAMPLES = 200


class LooksLikeDjango:
    """An object with a Django connection's ``alias`` and ``settings_dict``, and no native pool."""

    def __init__(self, alias: str, pool: Any) -> None:
        self.alias = alias
        self.settings_dict = {"OPTIONS": {}}
        if pool is not None:
            self.pool = pool


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.binary(max_size=16),
    st.text(max_size=24), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                                                max_size=2),
    st.builds(LooksLikeDjango, st.text(max_size=12), st.one_of(st.none(), st.integers(), st.text(max_size=4))),
)


def _aliases() -> set[str]:
    """Django's aliases when a settings module is configured in this process (pytest-django), else none."""
    import django.db  # the ORM imported, as in a process that has not set Django up (or has)
    from django.conf import settings as django_settings

    return set(django.db.connections) if django_settings.configured else set()


@settings(max_examples=EXAMPLES, deadline=None)
@given(target=JUNK)
def test_instrument_answers_junk_with_a_type_error(target: Any) -> None:
    assume(not (isinstance(target, str) and target in _aliases()))  # a real alias is not junk
    THROWN["instrument() targets"] += 1
    with pytest.raises(TypeError) as raised:
        instrument(target)
    message = str(raised.value)
    assert message.startswith("instrument()") and "\n" not in message, message


def test_reset_after_fork_without_django_settings_does_nothing() -> None:
    from django.conf import settings as django_settings

    if django_settings.configured:
        pytest.skip("Django is configured in this test process (pytest-django)")
    THROWN["reset_after_fork without settings"] += 1
    assert reset_after_fork() == 0
