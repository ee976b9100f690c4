"""Every text a template shows is inside a translation tag, so no page is half in English.

What counts as shown: text between tags, and the attributes people read or hear
(placeholder, title, aria-label, alt, the value of a submit/button input), plus string
literals handed to an include's `with` or to `|default:` (those reach the page as text).
What does not: Django comments and HTML comments, <script> and <style> bodies, <code> and
<kbd> (literal technical text), other attributes, blocks named *_class (they fill a class
attribute of base.html), and everything inside {% translate %} or
{% blocktranslate %}. A word is a run of two or more letters; the brand names below may stand alone.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
BRANDS = {"rtcsite", "Swagger"}
SHOWN_ATTRIBUTES = {"placeholder", "title", "aria-label", "alt"}
SKIPPED_ELEMENTS = {"script", "style", "code", "kbd"}

_TRANSLATED = re.compile(
    r"{%\s*(?:blocktranslate|blocktrans)\b.*?%}.*?{%\s*(?:endblocktranslate|endblocktrans)\s*%}"
    r"|{%\s*(?:translate|trans)\s.*?%}",
    re.S,
)
_COMMENTS = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}|<!--.*?-->", re.S)
# Blocks that fill a class attribute of base.html (`{% block body_class %}call-page{% endblock %}`).
_CLASS_BLOCKS = re.compile(r"{%\s*block\s+\w+_class\s*%}.*?{%\s*endblock\s*%}", re.S)
_TAG_OR_VARIABLE = re.compile(r"{%.*?%}|{{.*?}}", re.S)
# Literals that become page text: include ... with name="..." and |default:"..."
_SHOWN_LITERAL = re.compile(r"""(?:\bwith\b[^%]*?\w=|\s\w+=|\|default:)\s*(?P<q>["'])(?P<text>.*?)(?P=q)""")
_WORD = re.compile(r"[^\W\d_]{2,}")


def _words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text) if word not in BRANDS]


class _ShownText(HTMLParser):
    """Collects the text and the read-aloud attributes of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.skipping: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            shown = name in SHOWN_ATTRIBUTES or (
                name == "value" and tag == "input" and values.get("type") in ("submit", "button", "reset")
            )
            if shown and value and _words(value):
                self.found.append(f'{name}="{value}"')
        if tag in SKIPPED_ELEMENTS:
            self.skipping.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping and _words(data):
            self.found.append(data.strip())


def untranslated(source: str) -> list[str]:
    """The pieces of text in a template's `source` that a visitor would read untranslated."""
    source = _CLASS_BLOCKS.sub(" ", _COMMENTS.sub(" ", source))
    source = _TRANSLATED.sub(" ", source)
    found = []
    for tag in _TAG_OR_VARIABLE.findall(source):
        if tag.startswith("{% include") or "|default:" in tag:
            found += [f'"{m["text"]}" in {tag}' for m in _SHOWN_LITERAL.finditer(tag) if _words(m["text"])]
    parser = _ShownText()
    parser.feed(_TAG_OR_VARIABLE.sub(" ", source))
    parser.close()
    return found + parser.found


def _templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt"))


def test_there_are_templates_to_check():
    assert len(_templates()) > 20


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_the_template_shows_only_translated_text(path: Path):
    assert untranslated(path.read_text()) == []


@pytest.mark.parametrize(
    ("snippet", "caught"),
    [
        ("<h1>Welcome</h1>", ["Welcome"]),
        ('<input placeholder="Your name">', ['placeholder="Your name"']),
        ('<button aria-label="Close panel">&times;</button>', ['aria-label="Close panel"']),
        ('<input type="submit" value="Send">', ['value="Send"']),
        ("{% if on %}online{% endif %}", ["online"]),
        ('{% include "c.html" with heading="Log in" %}', ['"Log in" in {% include "c.html" with heading="Log in" %}']),
        ('{{ user.email|default:"no e-mail" }}', ['"no e-mail" in {{ user.email|default:"no e-mail" }}']),
        ("{% blocktranslate %}Hello {{ name }}{% endblocktranslate %}, friend", [", friend"]),
    ],
)
def test_unmarked_text_is_caught(snippet: str, caught: list[str]):
    assert untranslated(snippet) == caught


@pytest.mark.parametrize(
    "snippet",
    [
        '{% translate "Welcome" %} <a href="/x" class="grow">{{ name }}</a>',
        "{% blocktranslate count n=k %}{{ n }} peer{% plural %}{{ n }} peers{% endblocktranslate %}",
        '<input placeholder="{% translate "Your name" %}" name="username" type="text">',
        '<button value="close">{% translate "Close" %}</button>',
        '{% include "card.html" with heading=_("Sign in") %} {{ x|default:_("none") }} {{ d|date:"M j" }}',
        "<script>const a = 'words';</script><code>Authorization: Token</code>{# a note #}<!-- markup note -->",
        "<title>rtcsite</title> · → 12:30",
    ],
)
def test_marked_or_invisible_text_passes(snippet: str):
    assert untranslated(snippet) == []
