"""axe-core on a Playwright page: the WCAG 2.0/2.1/2.2 A and AA rules, serious and critical findings.

axe comes from tests/browser/axe/node_modules (npm ci there; scripts/bootstrap.sh test does it)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
BLOCKING = {"serious", "critical"}


@cache
def axe_source() -> str:
    return AXE.read_text(encoding="utf-8")


def inject_axe(page: Page) -> None:
    """Load axe into the page unless it is there already (a navigation drops it).

    The pages' CSP (`script-src 'self'`) refuses inline scripts, and `page.add_script_tag` adds
    its `path` or `content` as an inline <script>, so it works only in a context made with
    `bypass_csp=True`, which would hide the pages' own CSP mistakes. `page.evaluate` runs over
    the DevTools protocol, outside the page's CSP, so the page is checked under its real policy."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(f"() => {{ {axe_source()}\n}}")


def violations(page: Page, *, impacts: set[str] = BLOCKING) -> list[dict]:
    """The page's axe violations of the given impacts, each with the targets of its nodes."""
    inject_axe(page)
    found = page.evaluate(
        """async (tags) => {
            const options = { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] };
            const result = await axe.run(document, options);
            return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })) }));
        }""",
        TAGS,
    )
    return [v for v in found if v["impact"] in impacts]


def report(found: list[dict]) -> str:
    """Every violation and its nodes, one per line, for a failing assertion."""
    lines = []
    for v in found:
        lines.append(f"{v['impact']}: {v['id']} — {v['help']}")
        for node in v["nodes"]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}: {summary}")
    return "\n".join(lines)


def assert_accessible(page: Page, what: str) -> None:
    """No serious or critical violation on the page as it is now."""
    found = violations(page)
    assert not found, f"{what}: {len(found)} axe violation(s)\n{report(found)}"
