"""Atari game names: one normal form (ale-py's snake_case ROM id) for every spelling users type.

``"pong"``, ``"Pong"``, ``"ALE/Pong-v5"``, ``"PongNoFrameskip-v4"``, ``"MsPacman"``, ``"ms-pacman"`` and
``"ms_pacman"`` all name one game. Shared by the Atari env maker (checked against ale-py's ROM list)
and the human-normalised score table (checked against its 57 games). ale-py is imported only when
the ROM list is asked for.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_VERSION = re.compile(r"-v\d+$")
_SUFFIXES = ("noframeskip", "deterministic")


class UnknownGameError(ValueError):
    """A game name that matches none of the known games; the message lists the closest ones."""


def squash(name: str) -> str:
    """Spelling-free key of a game name: no ``ALE/`` prefix, version, frame-skip suffix, case or punctuation."""
    text = str(name).strip()
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    text = _VERSION.sub("", text).lower()
    for suffix in _SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)]
    return re.sub(r"[^a-z0-9]", "", text)


def canonical_game(name: str, known: Iterable[str], *, source: str = "known games") -> str:
    """The entry of ``known`` (snake_case ids) that ``name`` spells; :class:`UnknownGameError` if none."""
    known = list(known)
    table = {squash(k): k for k in known}
    key = squash(name)
    if key in table:
        return table[key]
    close = ", ".join(close_games(name, known)) or "(none)"
    raise UnknownGameError(f"unknown Atari game {name!r} (not one of the {len(known)} {source}); closest: {close}")


def close_games(name: str, known: Iterable[str], *, n: int = 5) -> list[str]:
    """Up to ``n`` entries of ``known`` closest to ``name``: substring matches first, then by similarity."""
    known = list(known)
    by_key = {squash(k): k for k in known}
    key = squash(name)
    out = [by_key[k] for k in sorted(by_key) if key and (key in k or k in key)]
    for k in difflib.get_close_matches(key, list(by_key), n=n, cutoff=0.5):
        if by_key[k] not in out:
            out.append(by_key[k])
    return out[:n]


def ale_game_ids() -> list[str]:
    """Every ROM id ale-py ships (snake_case, e.g. ``ms_pacman``)."""
    from ale_py import roms

    return list(roms.get_all_rom_ids())


def resolve_ale_game(name: str) -> str:
    """ale-py's ROM id for ``name`` in any common spelling; the error lists the closest ROM ids."""
    return canonical_game(name, ale_game_ids(), source="ale-py ROMs")


def ale_env_id(game: str) -> str:
    """gymnasium's id of ale-py's v5 environment for a ROM id: ``ms_pacman`` -> ``ALE/MsPacman-v5``."""
    from ale_py.registration import rom_id_to_name

    return f"ALE/{rom_id_to_name(game)}-v5"
