"""The README is in step with the code: every environment variable read is in its table."""

import re
from pathlib import Path

BASE = Path(__file__).resolve().parents[2]
README = (BASE / "README.md").read_text()
READ_PATTERNS = [
    r'(?:env_bool|env_int|env_float|env_list|os\.environ\.get)\(\s*"([A-Z][A-Z0-9_]+)"',
    r'os\.environ\[\s*"([A-Z][A-Z0-9_]+)"\s*\]',
    r'env="([A-Z][A-Z0-9_]+)"',
]
RUNTIME_ONLY = {"DJANGO_SETTINGS_MODULE", "PORT", "HOST", "DJANGO_ALLOW_ASYNC_UNSAFE"}


def variables_read() -> set[str]:
    names = set()
    for path in [*(BASE / "rtcsite").glob("*.py"), *(BASE / "calls").rglob("*.py")]:
        text = path.read_text()
        for pattern in READ_PATTERNS:
            names.update(re.findall(pattern, text))
    return names - RUNTIME_ONLY


def test_every_setting_is_in_the_readme_table():
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", README, re.M))
    read = variables_read()
    assert len(read) > 40
    missing = read - documented
    assert not missing, f"not in the README settings table: {sorted(missing)}"
    assert not documented - read, f"documented but never read: {sorted(documented - read)}"


def test_the_two_commands_and_ci():
    assert "make run" in README and "make test" in README
    ci = (BASE / ".ci" / "run").read_text()
    assert re.search(r"^exec make test$", ci, re.M)
    makefile = (BASE / "Makefile").read_text()
    assert re.search(r"^test: bootstrap-test$", makefile, re.M) and re.search(r"^run: bootstrap-run$", makefile, re.M)
