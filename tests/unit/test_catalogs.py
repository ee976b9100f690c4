"""The translation catalogs are complete: every entry translated, none fuzzy, none missing from the source.

Read from the .po files (the .mo files are built from them at set-up and are not committed).
"Missing from the source" is checked for the literals of gettext()/ngettext() in the scripts and of
_()/gettext()/{% translate %} in Python and templates; {% blocktranslate %} texts are left to
makemessages (their placeholders are rewritten on extraction).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LANGUAGES = [code for code, _ in settings.LANGUAGES if code != "en"]  # English is the source
DOMAINS = ("django", "djangojs")


def parse_po(text: str) -> list[dict[str, str]]:
    """The entries of a .po file: msgid, msgid_plural, msgstr / msgstr[n], and `flags` (the `#,` line)."""
    entries = []
    for block in re.split(r"\n\s*\n", text.strip()):
        entry: dict[str, str] = {"flags": ""}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += line[2:]
            elif line.startswith("#"):
                continue
            elif match := re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) "(.*)"$', line):
                key = match.group(1)
                entry[key] = match.group(2)
            elif line.startswith('"') and key:
                entry[key] += line[1:-1]
        if "msgid" in entry:  # not an obsolete (#~) entry
            entries.append(entry)
    return entries


def _catalog(language: str, domain: str) -> list[dict[str, str]]:
    path = ROOT / "locale" / language / "LC_MESSAGES" / f"{domain}.po"
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: run makemessages (README, Languages)"
    return parse_po(path.read_text())


def _unescape(text: str) -> str:
    return ast.literal_eval(f'"{text}"')


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_entry_is_translated_and_none_is_fuzzy(language: str, domain: str):
    header, *entries = _catalog(language, domain)
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert len(entries) > 50
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
    empty = [e["msgid"] for e in entries if any(v == "" for k, v in e.items() if k.startswith("msgstr"))]
    assert fuzzy == [] and empty == []
    plurals = [e for e in entries if "msgid_plural" in e]
    assert all("msgstr[0]" in e and "msgstr[1]" in e for e in plurals)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_translations_keep_the_placeholders(language: str):
    for domain in DOMAINS:
        for entry in _catalog(language, domain)[1:]:
            wanted = sorted(re.findall(r"%\(\w+\)[sd]", entry["msgid"]))
            for key in (k for k in entry if k.startswith("msgstr")):
                assert sorted(re.findall(r"%\(\w+\)[sd]", entry[key])) == wanted, entry["msgid"]


_JS_MARKED = re.compile(r"""\b(?:n|p)?gettext\(\s*"((?:[^"\\]|\\.)*)"(?:\s*,\s*"((?:[^"\\]|\\.)*)")?""")
_PY_MARKED = re.compile(r"""(?<![\w.])(?:_|gettext|gettext_lazy|ngettext)\(\s*"((?:[^"\\]|\\.)*)"\s*[,)]""")
_TEMPLATE_MARKED = re.compile(r"""{%\s*translate\s+"([^"]+)"\s*%}|_\("([^"]+)"\)""")


def _source_texts(domain: str) -> set[str]:
    texts: set[str] = set()
    if domain == "djangojs":
        for path in (ROOT / "static/calls/js").glob("*.js"):
            if path.name == "i18n.js":  # the wrapper; its comments show how to call it
                continue
            for singular, _plural in _JS_MARKED.findall(path.read_text()):
                texts.add(_unescape(singular))
        return texts
    for path in [*(ROOT / "calls").rglob("*.py"), *(ROOT / "rtcsite").glob("*.py")]:
        if "migrations" not in path.parts:
            texts.update(_unescape(text) for text in _PY_MARKED.findall(path.read_text()))
    for path in (ROOT / "templates").rglob("*"):
        if path.suffix in (".html", ".txt"):
            texts.update(a or b for a, b in _TEMPLATE_MARKED.findall(path.read_text()))
    return texts


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_marked_text_is_in_the_catalog(language: str, domain: str):
    catalog = {_unescape(entry["msgid"]) for entry in _catalog(language, domain)[1:]}
    source = _source_texts(domain)
    assert len(source) > 50
    assert sorted(source - catalog) == [], "run makemessages and translate the new entries (README, Languages)"
