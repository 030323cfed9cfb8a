"""The settings the chapters share, in one place: defaults and meanings in ``data/settings.yml``, a profile's
``shared:`` section over them.

A chapter's parameters cell holds ``profile`` and the settings only that chapter owns; it reads the rest with
:func:`shared_settings`. A profile is checked before anything runs: an unknown name or a value of the wrong
type is an error that names the profile file and the setting.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from .paths import DATA_DIR, PROFILES_DIR

__all__ = ["setting_defaults", "setting_help", "shared_settings", "check_shared", "check_setting", "check_memory"]


@lru_cache(maxsize=1)
def _table() -> dict:
    return yaml.safe_load((DATA_DIR / "settings.yml").read_text())


def setting_defaults() -> dict:
    """Every shared setting's default value."""
    return {name: entry["default"] for name, entry in _table().items()}


def setting_help(name: str) -> str:
    """What a shared setting means (empty for a name that is not a shared setting)."""
    return (_table().get(name) or {}).get("help", "")


def _kind_ok(default, value) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, list):
        return (
            isinstance(value, list)
            and len(value) == len(default)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        )
    if isinstance(default, str):
        return isinstance(value, str)
    return True


def _bounds(name: str) -> str:
    low, high = _table()[name].get("min"), _table()[name].get("max")
    return " and ".join(
        b for b in (f"at least {low}" if low is not None else "", f"at most {high}" if high is not None else "") if b
    )


def _within(name: str, value) -> bool:
    """Whether every number of ``value`` lies within the setting's ``min`` and ``max`` (NaN lies nowhere)."""
    low, high = _table()[name].get("min"), _table()[name].get("max")
    for x in value if isinstance(value, list) else [value]:
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            continue
        if x != x or (low is not None and x < low) or (high is not None and x > high):
            return False
    return True


def check_setting(name: str, value, label: str | None = None) -> None:
    """Raise ``ValueError`` when ``value`` is not of the shared setting ``name``'s kind or lies outside its range;
    the message names it as ``label`` (for example the command-line option, ``--image-size``).

    Examples
    --------
    >>> check_setting("seed", -3, "--seed")
    Traceback (most recent call last):
    ...
    ValueError: --seed must be at least 0, not -3
    """
    label = label or name
    default = setting_defaults()[name]
    if not _kind_ok(default, value):
        raise ValueError(f"{label} must be like {default!r}, not {value!r}")
    if not _within(name, value):
        raise ValueError(f"{label} must be {_bounds(name)}, not {value!r}")


def check_memory(need: float, what: str, advice: str) -> None:
    """Refuse, before allocating, a request of ``need`` bytes held at once that is more than half the memory free
    now: ``ValueError`` saying ``what`` needs how much and ``advice`` (what to ask for instead)."""
    import psutil

    free = psutil.virtual_memory().available
    if need > free / 2:
        raise ValueError(
            f"{what} need about {need / 2**30:.1f} GiB at once, more than half of the {free / 2**30:.1f} GiB free; {advice}"
        )


def check_shared(shared: dict, source: str = "the profile") -> None:
    """Raise ``ValueError`` naming ``source`` when ``shared`` sets an unknown setting or a value of another
    type than its default (a whole number where one is expected, a list of the default's length, ...)."""
    defaults = setting_defaults()
    if not isinstance(shared, dict):
        raise ValueError(f"{source}: `shared:` must map setting names to values, not {type(shared).__name__}")
    unknown = sorted(set(shared) - set(defaults))
    if unknown:
        raise ValueError(
            f"{source} sets {unknown} under `shared:`, which is no shared setting (a typo?); "
            f"the shared settings are listed in data/settings.yml"
        )
    wrong = [f"{k}: {v!r} (expected like {defaults[k]!r})" for k, v in shared.items() if not _kind_ok(defaults[k], v)]
    if wrong:
        raise ValueError(f"{source}: wrong type under `shared:`: " + "; ".join(wrong))
    outside = [f"{k}: {v!r} (must be {_bounds(k)})" for k, v in shared.items() if not _within(k, v)]
    for k, v in shared.items():
        choices = _table()[k].get("choices")
        if choices is not None and v not in choices:
            outside.append(f"{k}: {v!r} (must be one of {choices})")
    if outside:
        raise ValueError(f"{source}: out of range under `shared:`: " + "; ".join(outside))


def shared_settings(profile: str | dict = "default", profiles_dir: Path = PROFILES_DIR) -> dict:
    """The shared settings of a profile: the defaults of ``data/settings.yml`` with the profile's ``shared:``
    section over them. ``profile`` is a profile's name (``book/profiles/<name>.yml``) or a loaded profile.

    Examples
    --------
    >>> smoke = shared_settings("smoke")
    >>> smoke["image_size"], smoke["learning_rate"] == setting_defaults()["learning_rate"]
    (72, True)
    >>> shared_settings({"name": "mine", "shared": {"image_size": "big"}})
    Traceback (most recent call last):
    ...
    ValueError: profile 'mine': wrong type under `shared:`: image_size: 'big' (expected like 72)
    """
    if isinstance(profile, str):
        from .pipeline import load_profile

        profile = load_profile(profile, profiles_dir)
    shared = profile.get("shared") or {}
    check_shared(shared, f"profile {profile.get('name', '?')!r}")
    return {**setting_defaults(), **shared}
