"""The chart's config.smtp and secrets.smtpPassword reach the notifications pods as the
HUIKE_SMTP_* variables notifications' mail sender reads; values it would refuse are refused at
install time by values.schema.json."""

from __future__ import annotations

import pytest

from tests.deploy.chart import MINIMAL, manifests, merged, of_kind
from tests.deploy.test_settings_env import _containers, _environment, _load

SMTP = {"config": {"smtp": {"host": "smtp.exmail.qq.com", "port": 465, "security": "tls",
                            "username": "crm@example.com", "from": "汇客 <crm@example.com>",
                            "timeoutSeconds": 15}},
        "secrets": {"smtpPassword": "s3cret-app-password"}}


def test_smtp_values_reach_the_notifications_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = manifests(merged(MINIMAL, SMTP))
    (container,) = _containers(of_kind(docs, "Deployment")["huike-notifications"])
    settings = _load(monkeypatch, _environment(docs, container))
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == ("smtp.exmail.qq.com", 465, "tls")
    assert (settings.smtp_username, settings.smtp_password) == ("crm@example.com", "s3cret-app-password")
    assert settings.smtp_from == "汇客 <crm@example.com>" and settings.smtp_timeout_seconds == 15


def test_without_smtp_values_the_local_sink_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = manifests(MINIMAL)
    (container,) = _containers(of_kind(docs, "Deployment")["huike-notifications"])
    settings = _load(monkeypatch, _environment(docs, container))
    assert settings.smtp_host == ""
    # No password given: the Secret has no key, and the pod's reference to it is optional.
    (ref,) = [e for e in container["env"] if e["name"] == "HUIKE_SMTP_PASSWORD"]
    assert ref["valueFrom"]["secretKeyRef"]["optional"] is True
    assert all("HUIKE_SMTP_PASSWORD" not in s.get("data", {}) for s in of_kind(docs, "Secret").values())


@pytest.mark.parametrize("smtp", [{"security": "ssl"}, {"port": 0}, {"timeoutSeconds": 0}, {"hots": "typo"}])
def test_smtp_values_the_sender_would_refuse_are_refused(smtp: dict[str, object]) -> None:
    with pytest.raises(Exception, match="(?i)schema|smtp"):
        manifests(merged(MINIMAL, {"config": {"smtp": smtp}}))
