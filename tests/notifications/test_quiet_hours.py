"""Quiet hours in the user's time zone hold mail until they end; security mail is never held."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notifications.domain.preferences import choose, quiet_end


def test_quiet_hours_across_midnight_in_the_users_time_zone() -> None:
    # 23:30 in Shanghai is 15:30 UTC: inside 22:00-08:00, which ends at 08:00 Shanghai = 00:00 UTC.
    now = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
    end = quiet_end("22:00-08:00", "Asia/Shanghai", now)
    assert end is not None and end.astimezone(UTC) == datetime(2026, 12, 4, 0, 0, tzinfo=UTC)
    assert quiet_end("22:00-08:00", "Asia/Shanghai", datetime(2026, 12, 3, 4, 0, tzinfo=UTC)) is None  # noon there
    assert quiet_end("22:00-08:00", "Europe/London", now) is None  # 15:30 in London


def test_choice_follows_user_then_tenant_then_type_and_keeps_security_mail() -> None:
    now = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)
    user = {"types": {"task.overdue": {"channels": ["in_app"]}}, "quiet_hours": "22:00-08:00",
            "time_zone": "Asia/Shanghai"}
    tenant = {"types": {"task.overdue": {"channels": ["email"]}, "mention": {"digest": True}}}
    assert not choose("task.overdue", user, tenant, now).email
    assert choose("task.overdue", None, tenant, now).email and not choose("task.overdue", None, tenant, now).in_app
    held = choose("task.reminder_due", user, tenant, now)
    assert held.email and held.quiet_until is not None
    assert choose("mention", None, tenant, now).digest
    security = choose("login.new_place", {**user, "types": {"login.new_place": {"channels": []}}}, None, now)
    assert security.in_app and security.quiet_until is None and not security.digest
