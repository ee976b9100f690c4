"""The committed coturn configurations say what rtcsite relies on."""

from pathlib import Path

import devstack

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "coturn"


def directives(text: str) -> set[str]:
    return {line.split("=")[0].strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def test_loopback_template_matches_what_the_stack_writes(tmp_path):
    generated = devstack.coturn_loopback_config(3478, ["x"], "rtcsite.local", 20000, 20199, tmp_path / "log")
    wanted = {"use-auth-secret", "static-auth-secret", "allow-loopback-peers", "no-cli", "listening-ip", "relay-ip",
              "fingerprint", "no-tls", "no-dtls", "no-multicast-peers", "realm", "min-port", "max-port"}  # fmt: skip
    assert wanted <= directives(generated)
    assert wanted <= directives((DEPLOY / "turnserver-loopback.conf").read_text())


def test_production_template_is_hardened():
    text = (DEPLOY / "turnserver.conf").read_text()
    found = directives(text)
    for directive in ("use-auth-secret", "static-auth-secret", "fingerprint", "no-cli", "no-multicast-peers",
                      "no-tcp-relay", "user-quota", "total-quota", "cert", "pkey", "tls-listening-port"):  # fmt: skip
        assert directive in found, directive
    assert "allow-loopback-peers" not in found
    for denied in ("127.0.0.0-127.255.255.255", "10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255",
                   "192.168.0.0-192.168.255.255", "169.254.0.0-169.254.255.255", "::1"):  # fmt: skip
        assert f"denied-peer-ip={denied}" in text
    assert "__TURN_SECRET__" in text  # a placeholder, never a real secret
