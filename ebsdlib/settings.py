"""The settings the chapters share, in one place: defaults and meanings in ``ebsdlib/data/settings.yml``, a profile's
``shared:`` section over them; the profiles themselves (``book/profiles/<name>.yml``, :func:`load_profile`) and
the book's table of contents (:func:`read_toc`, :func:`chapter_notebooks`), which a profile's chapters must match.

A chapter's parameters cell holds ``profile`` and the settings only that chapter owns; it reads the rest with
:func:`shared_settings`. A profile is checked before anything runs: an unknown name or a value of the wrong
type is an error that names the profile file and the setting.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from ebsdlib.paths import DATA_DIR, PROFILES_DIR, REPO_ROOT

__all__ = [
    "load_profile",
    "read_toc",
    "chapter_notebooks",
    "setting_defaults",
    "setting_help",
    "shared_settings",
    "check_shared",
    "check_setting",
    "check_memory",
]


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
    choices = _table()[name].get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"{label} must be one of {', '.join(map(str, choices))}, not {value!r}")


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
            f"the shared settings are listed in ebsdlib/data/settings.yml"
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
    """The shared settings of a profile: the defaults of ``ebsdlib/data/settings.yml`` with the profile's ``shared:``
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
        profile = load_profile(profile, profiles_dir)
    shared = profile.get("shared") or {}
    check_shared(shared, f"profile {profile.get('name', '?')!r}")
    return {**setting_defaults(), **shared}


class _ProfileLoader(yaml.SafeLoader):
    """YAML as a profile may be written: no aliases (``*name``; an alias bomb expands a few lines into gigabytes)
    and no key twice in one mapping (YAML would keep the last without a word)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None, None, f"uses the alias *{event.anchor}; write the value out (profiles allow no aliases)", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"sets {key!r} twice in one mapping; keep one", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _non_finite(value, where: str = "") -> list[str]:
    """The places in a loaded profile that hold NaN or an infinity (``.nan``, ``.inf``), as ``a: b[2]``."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return [where or "(the whole profile)"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _non_finite(v, f"{where}: {k}" if where else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _non_finite(v, f"{where}[{i}]")]
    return []


def load_profile(name: str, profiles_dir: Path = PROFILES_DIR) -> dict:
    """Read ``book/profiles/<name>.yml``: ``{"description", "shared": {...}, "chapters": {stem: {...}}}``."""
    path = Path(profiles_dir) / f"{name}.yml"
    if not path.is_file():
        if not Path(profiles_dir).is_dir():
            raise ValueError(
                f"no profiles at {profiles_dir} (an installed copy of ebsdlib has no book): set EBSDLIB_PROFILES to a "
                "folder of profiles, e.g. a copy of the repository's book/profiles"
            )
        known = sorted(p.stem for p in Path(profiles_dir).glob("*.yml"))
        raise ValueError(f"unknown profile {name!r}: choose one of {', '.join(known)}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(
            f"profile {name!r} ({path}) is not a text file; a profile is YAML (see book/profiles/default.yml)"
        ) from None
    try:
        profile = yaml.load(text, Loader=_ProfileLoader)  # noqa: S506 - a SafeLoader without aliases or duplicate keys
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ValueError(f"profile {name!r} ({path}) is not valid YAML{at}: {problem}") from None
    profile = {} if profile is None else profile
    if not isinstance(profile, dict):
        raise ValueError(
            f"profile {name!r} ({path}) must be a mapping with `description:`, `shared:` and `chapters:`, "
            f"not a {type(profile).__name__}"
        )
    unknown = sorted(set(profile) - {"description", "shared", "chapters"})
    if unknown:
        raise ValueError(
            f"profile {name!r} ({path}) has unknown top-level key(s) {unknown}; a profile has description, shared and chapters"
        )
    bad = _non_finite(profile)
    if bad:
        raise ValueError(f"profile {name!r} ({path}) sets {', '.join(bad)} to NaN or an infinity; give a finite number")
    profile["shared"] = profile.get("shared") or {}
    profile["chapters"] = profile.get("chapters") or {}
    if not isinstance(profile["chapters"], dict) or not all(
        isinstance(v, dict) or v is None for v in profile["chapters"].values()
    ):
        raise ValueError(f"profile {name!r} ({path}): `chapters:` must map chapter names to their settings")
    root = Path(profiles_dir).parent.parent
    chapters = {Path(f).stem for f in chapter_notebooks(root)} if (root / "_toc.yml").is_file() else set()
    if chapters:
        stray = sorted(set(profile["chapters"]) - chapters)
        if stray:
            raise ValueError(
                f"profile {name!r} ({path}) sets chapter(s) {stray}, which the book does not have; its chapters are {sorted(chapters)}"
            )
    profile["name"] = name
    return profile


def read_toc(root: Path = REPO_ROOT) -> list[str]:
    """Files of ``_toc.yml`` in order (root first), without suffix, relative to ``root``."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            for part in entry.get("parts", []) or []:
                walk(part.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"))
    return files


def chapter_notebooks(root: Path = REPO_ROOT) -> list[str]:
    """The executed chapters: the notebooks of ``_toc.yml`` in order (Markdown pages are not executed)."""
    return [f for f in read_toc(root) if (Path(root) / f"{f}.ipynb").is_file()]
