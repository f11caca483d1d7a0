"""Languages: the course in English (the source) or in Chinese, from one source.

Two kinds of text are translated, both through gettext catalogs read with ``polib``:

- **the package's own strings** (figure titles, axis labels, legends, explorer controls and
  summary lines): ``gptlab/locale/<lang>/LC_MESSAGES/gptlab.po``, looked up by ``_()``;
- **the lessons** (markdown cells, comments and printed sentences): ``locale/<lang>/LC_MESSAGES/
  <lesson>.po`` at the top of the repository, turned into ``notebooks/<lang>/`` by
  ``python -m gptlab.i18n build <lang>`` (see ``gptlab.i18n.notebooks``).

    import gptlab
    gptlab.set_language("zh_CN")   # or: GPTLAB_LANG=zh_CN jupyter lab
    gptlab.get_language()          # 'zh_CN'

Choosing Chinese also registers a CJK font that arrives with pip (``mplfonts`` ships Noto Sans
CJK SC) with matplotlib, so no character of a label is drawn as a box. What an explorer says
about a learner's input (a line too long, a word it cannot read) is translated too; errors for
developers (wrong argument types, shapes) stay in English: they name parameters and API that are
English anyway.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from .._checks import check_choice

LANGUAGES = ("en", "zh_CN")
SOURCE_LANGUAGE = "en"
PACKAGE_LOCALE = Path(__file__).resolve().parent.parent / "locale"
CJK_FAMILY = "Noto Sans CJK SC"

_ALIASES = {"zh": "zh_CN", "zh-cn": "zh_CN", "zh_cn": "zh_CN", "zh-hans": "zh_CN", "en_us": "en", "en-us": "en",
            "en_gb": "en", "c": "en", "": "en"}


def _normalise(lang: str) -> str:
    return _ALIASES.get(lang.strip().lower(), lang.strip())


def _from_environment() -> str:
    lang = _normalise(os.environ.get("GPTLAB_LANG", SOURCE_LANGUAGE))
    return lang if lang in LANGUAGES else SOURCE_LANGUAGE


_current = _from_environment()


def set_language(lang: str = SOURCE_LANGUAGE) -> str:
    """Choose the language of figures and explorers from now on: ``"en"`` (default) or ``"zh_CN"``.

    Pictures and explorers made after the call use it; run a lesson's cells again to redraw.
    """
    global _current
    if not isinstance(lang, str):
        from .._checks import ArgumentTypeError
        raise ArgumentTypeError(f"lang must be a string, one of {LANGUAGES}, got {type(lang).__name__}")
    check_choice("lang", _normalise(lang), LANGUAGES)
    _current = _normalise(lang)
    if _current != SOURCE_LANGUAGE:
        register_cjk_font()
    return _current


def get_language() -> str:
    """The language figures and explorers are drawn in now."""
    return _current


@functools.cache
def _package_catalog(lang: str) -> dict[str, str]:
    """msgid -> msgstr of the package catalog (finished entries only: no fuzzy, no empty)."""
    import polib

    path = PACKAGE_LOCALE / lang / "LC_MESSAGES" / "gptlab.po"
    if not path.exists():
        return {}
    return {e.msgid: e.msgstr for e in polib.pofile(str(path)) if e.msgstr and not e.fuzzy and not e.obsolete}


def gettext(message: str) -> str:
    """``message`` in the current language (itself in English, or where the catalog lacks it)."""
    if _current == SOURCE_LANGUAGE:
        return message
    return _package_catalog(_current).get(message, message)


_ = gettext


def cjk_font_path() -> Path:
    """The Noto Sans CJK SC file that ``mplfonts`` installs."""
    import mplfonts

    path = Path(mplfonts.__file__).resolve().parent / "fonts" / "NotoSansCJKsc-Regular.otf"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: reinstall the fonts with `pip install --force-reinstall mplfonts`")
    return path


@functools.cache
def register_cjk_font() -> str:
    """Add the CJK font to matplotlib and put it behind each sans-serif family as a fallback.

    matplotlib (3.6+) falls back glyph by glyph along the families of ``font.family``: Latin
    letters keep the course's font, Chinese characters come from Noto Sans CJK SC.
    """
    import matplotlib as mpl
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(cjk_font_path()))
    families = [f for f in mpl.rcParams["font.family"] if f != CJK_FAMILY]
    mpl.rcParams["font.family"] = [*families, CJK_FAMILY]
    return CJK_FAMILY


if _current != SOURCE_LANGUAGE:
    register_cjk_font()

__all__ = ["LANGUAGES", "set_language", "get_language", "gettext", "register_cjk_font", "cjk_font_path"]
