"""The nginx that `make cluster` and the tests run serves the site exactly as deploy/nginx/ does.

Both configurations include deploy/nginx/rtcsite-locations.conf (which includes
rtcsite-proxy.conf); each keeps only what is particular to it (listen address, TLS, the
pool's ports, the static root). These tests expand the includes and compare what the
HTTPS server of each does, and let nginx itself check both files.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import devstack
from devstack.nginx import DEPLOY_NGINX, SNIPPETS, link_snippets, self_signed_certificate

# Directives a server block may set for itself: where it listens, its name and certificate,
# where its static files are. Everything else it does must come from the shared snippets.
LOCAL = ("listen", "server_name", "ssl_", "set $rtcsite_static_root")


def test_devstack_imports_nothing_from_django():
    """It starts Redis and Coturn before settings can load, so it must not need them."""
    code = "import sys, devstack.cli; print(*{name.split('.')[0] for name in sys.modules})"
    result = subprocess.run([sys.executable, "-c", code], cwd=devstack.procs.BASE_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "devstack" in result.stdout.split()
    assert not {"django", "rtcsite", "calls"} & set(result.stdout.split())


def expand(text: str) -> str:
    """`text` with every `include snippets/NAME;` replaced by deploy/nginx/NAME, recursively."""

    def inline(match: re.Match) -> str:
        return expand((DEPLOY_NGINX / match.group(1)).read_text())

    return re.sub(r"^\s*include snippets/([\w.-]+);", inline, text, flags=re.M)


def parse(text: str) -> list:
    """nginx configuration as nested lists: a directive is a string, a block is [name, [children]]."""
    text = re.sub(r"#[^\n]*", "", text)
    root: list = []
    stack = [root]
    for token, delimiter in re.findall(r"([^{};]*)([{};])", text):
        statement = " ".join(token.split())
        if delimiter == "{":
            block: list = []
            stack[-1].append([statement, block])
            stack.append(block)
        elif delimiter == ";":
            stack[-1].append(statement)
        else:
            assert not statement, statement
            stack.pop()
    assert len(stack) == 1, "unbalanced braces"
    return root


def blocks(tree: list, name: str) -> list[list]:
    """Every block called `name` (e.g. "server", "upstream rtcsite") anywhere in `tree`."""
    found = []
    for item in tree:
        if isinstance(item, list):
            if item[0] == name:
                found.append(item[1])
            found += blocks(item[1], name)
    return found


def site(tree: list) -> list:
    """The HTTPS server block's directives that are not LOCAL: what the site serves."""

    def serves_the_site(server: list) -> bool:
        return any(
            item == "include snippets/rtcsite-locations.conf" or (isinstance(item, list) and item[0] == "location /ws/")
            for item in server
        )

    (server,) = [b for b in blocks(tree, "server") if serves_the_site(b)]
    return [item for item in server if not (isinstance(item, str) and item.startswith(LOCAL))]


def http_level(tree: list) -> dict:
    """The WebSocket upgrade map and the pool's settings besides its `server` lines."""
    (upstream,) = blocks(tree, "upstream rtcsite")
    (upgrade,) = blocks(tree, "map $http_upgrade $connection_upgrade")
    return {"upstream": [d for d in upstream if not d.startswith("server ")], "map": upgrade}


def generated(tmp_path: Path) -> Path:
    return devstack.write_config(tmp_path, [8001, 8002], tmp_path / "static", host="127.0.0.1", port=8443)


def production() -> str:
    return (DEPLOY_NGINX / "rtcsite.conf").read_text()


def test_both_configurations_include_the_snippets_and_define_no_location_of_their_own(tmp_path):
    for text in (generated(tmp_path).read_text(), production()):
        assert "include snippets/rtcsite-locations.conf;" in text
        https = site(parse(text))
        assert https == ["include snippets/rtcsite-locations.conf"], https
    for name in SNIPPETS:
        assert (tmp_path / "snippets" / name).resolve() == DEPLOY_NGINX / name


def test_dev_and_production_serve_the_same_site(tmp_path):
    dev, prod = parse(expand(generated(tmp_path).read_text())), parse(expand(production()))
    assert site(dev) == site(prod)
    assert http_level(dev) == http_level(prod)
    locations = [item[0] for item in site(prod) if isinstance(item, list)]
    assert locations == ["location /static/", "location = /metrics", "location /ws/", "location /"]
    (ws,) = blocks(site(prod), "location /ws/")
    assert "proxy_pass http://rtcsite" in ws and "proxy_read_timeout 3600s" in ws
    assert "proxy_set_header Connection $connection_upgrade" in ws


def nginx_t(config: Path, prefix: Path) -> None:
    result = subprocess.run(
        [devstack.require("nginx", "nginx"), "-t", "-q", "-c", str(config), "-p", str(prefix), "-e",
         str(prefix / "nginx-t.log")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout


def test_generated_configuration_passes_nginx_t(tmp_path):
    nginx_t(generated(tmp_path), tmp_path)


def test_production_site_passes_nginx_t(tmp_path):
    """The committed site, with a throwaway certificate, inside a minimal main configuration."""
    cert, key = self_signed_certificate(tmp_path, ["example.com"])
    text = production()
    text = text.replace("/etc/letsencrypt/live/example.com/fullchain.pem", str(cert))
    text = text.replace("/etc/letsencrypt/live/example.com/privkey.pem", str(key))
    (tmp_path / "sites").mkdir()
    (tmp_path / "sites" / "rtcsite.conf").write_text(text)
    link_snippets(tmp_path)
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\nevents {{}}\n"
        "http {\n    include /etc/nginx/mime.types;\n    include sites/rtcsite.conf;\n}\n"
    )
    nginx_t(main, tmp_path)
