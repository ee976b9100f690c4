"""The call page's scripts show people only translated text: gettext() around every string they display.

Heuristics (the ways static/calls/js puts text on the page), each a "sink" whose value is checked:
- assignments to `.textContent`, `.innerText`, `.title`, `.placeholder` (up to the end of the statement);
- `setAttribute("aria-label" | "title" | "placeholder" | "alt", value)`;
- object properties `title:`, `placeholder:`, `"aria-label":`, `alt:` and `label:` (el()'s attributes and
  setButton's label), up to the next comma at the same depth;
- the arguments of the helpers that show text: toast, notice, endCall, announce, and the panels'
  #say, #showError, #showProblem and removeFailed;
- the children of el(tag, attrs, ...children) (the text of the element it builds; nested el() calls
  are checked the same way).
In a sink's value, calls of gettext/ngettext/pgettext are marked text; the arguments of any other call
(icon("mic-off"), String(n)) are not display text and are skipped. What remains must hold no string or
template-literal text with a letter in it: `${...}` parts, punctuation and numbers may stand alone.
Not found: text kept in a table and looked up later (protocol.js's messages, chat.js's ERRORS,
media.js's PROBLEMS) reaches a sink as a variable; those tables are marked where they are written.
Comments and regular expressions are left out, and so is i18n.js, the wrapper itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "static/calls/js"
NOT_CHECKED = {"i18n.js"}

_ASSIGN = re.compile(r"\.(?:textContent|innerText|title|placeholder)\s*=(?!=)")
_ATTRIBUTE = re.compile(r"""setAttribute\(\s*["'](?:aria-label|title|placeholder|alt)["']\s*,""")
_PROPERTY = re.compile(r"""(?:["']aria-label["']|(?<![\w.-])(?:title|placeholder|alt|label))\s*:(?!:)""")
_HELPER = re.compile(r"(?<!\w)(?P<name>toast|notice|endCall|announce|#say|#showError|#showProblem|removeFailed)\(")
_HELPER_TEXT_ARGUMENT = {"removeFailed": 1}  # which argument is the text; the others' first (the rest: kinds)
_EL = re.compile(r"(?<![\w.])el\(")
_CALL = re.compile(r"[\w$#.]+\(")
_COMPARED = re.compile(r"[!=]==?\s*$")
_LETTER = re.compile(r"[^\W\d_]")
_OPEN, _CLOSE = "([{", ")]}"


def strip_comments_and_regexes(source: str) -> str:
    """`source` with comments and regular-expression literals blanked, strings kept."""
    out, i, n = [], 0, len(source)
    while i < n:
        c = source[i]
        if c in "\"'`":
            j = _string_end(source, i)
            out.append(source[i:j])
            i = j
        elif source.startswith("//", i):
            i = source.find("\n", i) if "\n" in source[i:] else n
        elif source.startswith("/*", i):
            i = source.index("*/", i) + 2
        elif c == "/" and re.search(r"(?:^|[(,=:\[!&|?{};]|return)\s*$", "".join(out[-20:])):
            j = i + 1
            while source[j] != "/" or source[j - 1] == "\\":
                if source[j] == "[":  # a character class may hold a slash
                    j = source.index("]", j)
                j += 1
            out.append('""')
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _string_end(source: str, start: int) -> int:
    """The index just past the string or template literal that opens at `start`."""
    quote, i = source[start], start + 1
    while source[i] != quote:
        if source[i] == "\\":
            i += 1
        elif quote == "`" and source.startswith("${", i):
            i = _group_end(source, i + 1) - 1
        i += 1
    return i + 1


def _group_end(source: str, start: int) -> int:
    """The index just past the bracket group that opens at `start` (strings skipped)."""
    depth, i = 0, start
    while True:
        c = source[i]
        if c in "\"'`":
            i = _string_end(source, i)
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1


def _split_top(text: str, stops: str) -> tuple[list[str], int]:
    """`text` cut at `stops` characters at depth 0, until a closing bracket ends it; and where it ended."""
    parts, depth, i, begin = [], 0, 0, 0
    while i < len(text):
        c = text[i]
        if c in "\"'`":
            i = _string_end(text, i)
            continue
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and c in stops:
            parts.append(text[begin:i])
            begin = i + 1
            if c in ";\n":
                return parts, i
        i += 1
    parts.append(text[begin:i])
    return parts, i


def _shown_text(expression: str) -> list[str]:
    """Untranslated literal text in `expression`: marked calls and other calls' arguments removed."""
    found, i = [], 0
    while i < len(expression):
        c = expression[i]
        call = _CALL.match(expression, i)
        if call and (i == 0 or not re.match(r"[\w$#.]", expression[i - 1])):
            end = _group_end(expression, call.end() - 1)
            arguments = expression[call.end() : end - 1]
            if _EL.match(expression, i):
                found += _el_children(arguments)
            elif call.group() == "interpolate(":  # its format must be a gettext() call
                found += _shown_text(_split_top(arguments, ",")[0][0])
            i = end
            continue
        if c in "\"'`":
            end = _string_end(expression, i)
            literal = re.sub(r"\$\{.*?\}", "", expression[i + 1 : end - 1])
            compared = _COMPARED.search(expression[:i]) or re.match(r"\s*[!=]==?", expression[end:])
            if _LETTER.search(literal) and not compared:
                found.append(expression[i:end])
            i = end
            continue
        i += 1
    return found


def _el_children(arguments: str) -> list[str]:
    parts, _ = _split_top(arguments, ",")
    return [text for part in parts[2:] for text in _shown_text(part)]


def _masked(code: str) -> str:
    """`code` with the insides of its text literals blanked (same length), so sinks are found only in code.

    Literals that are one name ("aria-label", "button") stay: sinks are spelled with them.
    """
    out, i = [], 0
    while i < len(code):
        if code[i] in "\"'`":
            end = _string_end(code, i)
            inside = code[i + 1 : end - 1]
            out.append(code[i:end] if re.fullmatch(r"[\w-]*", inside) else code[i] + " " * len(inside) + code[end - 1])
            i = end
        else:
            out.append(code[i])
            i += 1
    return "".join(out)


def unmarked(source: str) -> list[str]:
    """String literals in a module's `source` that reach the page untranslated."""
    code = strip_comments_and_regexes(source)
    masked = _masked(code)
    found = []
    for pattern, stops in ((_ASSIGN, ";"), (_PROPERTY, ",")):
        for match in pattern.finditer(masked):
            found += _shown_text(_split_top(code[match.end() :], stops)[0][0])
    for match in _ATTRIBUTE.finditer(masked):
        found += _shown_text(_split_top(code[match.end() :], "")[0][0])
    checked_to = 0  # an el() inside another was checked with it
    for match in _EL.finditer(masked):
        if match.start() < checked_to:
            continue
        checked_to = _group_end(code, match.end() - 1)
        found += _el_children(code[match.end() : checked_to - 1])
    for match in _HELPER.finditer(masked):
        arguments = _split_top(code[match.end() : _group_end(code, match.end() - 1) - 1], ",")[0]
        which = _HELPER_TEXT_ARGUMENT.get(match["name"], 0)
        found += _shown_text(arguments[which]) if which < len(arguments) else []
    return found


def _modules() -> list[Path]:
    return sorted(p for p in JS.glob("*.js") if p.name not in NOT_CHECKED)


def test_there_are_modules_to_check():
    assert len(_modules()) > 15


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_the_module_shows_only_translated_text(path: Path):
    assert unmarked(path.read_text()) == []


@pytest.mark.parametrize(
    ("snippet", "caught"),
    [
        ('box.textContent = "Nobody is here yet.";', ['"Nobody is here yet."']),
        ('status.textContent = n ? `${n} already here` : gettext("Nobody");', ["`${n} already here`"]),
        ('node.setAttribute("aria-label", `Remove ${name}`);', ["`Remove ${name}`"]),
        ('el("button", { type: "button", "aria-label": "Close chat" }, icon("close"));', ['"Close chat"']),
        ('el("span", { class: "name" }, "You are presenting");', ['"You are presenting"']),
        ('el("li", {}, el("span", { class: "sr-only" }, "muted"), String(n));', ['"muted"']),
        ("toast(`${name} joined`);", ["`${name} joined`"]),
        ('setButton(b, { label: muted ? "Unmute" : gettext("Mute") });', ['"Unmute"']),
        ('this.#showError(ERRORS[code] || "Message not sent.");', ['"Message not sent."']),
    ],
)
def test_unmarked_text_is_caught(snippet: str, caught: list[str]):
    assert unmarked(snippet) == caught


@pytest.mark.parametrize(
    "snippet",
    [
        'box.textContent = gettext("Nobody is here yet.");',
        'el("span", { class: `toast ${kind}`, "aria-label": interpolate(gettext("Remove %(n)s"), { n }) }, icon("x"));',
        'toast(interpolate(ngettext("%(count)s hand", "%(count)s hands", n), { count: n }), "warning");',
        'node.textContent = `(${count})`; // a "comment" with words',
        'const pattern = /"quoted" words/g; notice(text, "error");',
        'el("use", { href: "#i-mic" }); button.title = "";',
        'tile.state.textContent = detail === "connected" ? "" : linkState(detail);',
    ],
)
def test_marked_or_invisible_text_passes(snippet: str):
    assert unmarked(snippet) == []
