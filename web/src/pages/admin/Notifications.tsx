import { Alert, Button, Checkbox, List, Select, Space, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { api, type Schemas } from "../../api/client";
import { useApp } from "../../AppContext";
import { problemText } from "../../components/forms";
import { NOTIFICATIONS_CHANGED } from "../../components/NotificationBell";
import type { MessageKey } from "../../i18n/messages";
import { formatDateTime } from "../../lib/format";
import { recordLink } from "../../lib/links";

type Notification = Schemas["NotificationOut"];

// The in-app types (services/notifications/README.md); mail-only ones never reach the inbox.
const TYPES = [
  "task.reminder_due", "task.overdue", "follow_up.due", "objection.assigned", "objection.sla_warning",
  "objection.sla_breached", "approval.requested", "approval.decided", "workflow.message", "customer.transferred",
  "customer.pool_warning", "customer.returned_to_pool", "handover.report", "mention", "import.finished",
  "import.failed", "export.ready", "login.new_place", "api_key.created",
] as const;

export default function Notifications() {
  const { t, locale } = useApp();
  const [type, setType] = useState<string | undefined>();
  const [unreadOnly, setUnreadOnly] = useState(false);
  const [items, setItems] = useState<Notification[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    const { data, error: problem } = await api.GET("/api/v1/notifications", {
      params: { query: { type, unread: unreadOnly, limit: 50 } } });
    setItems(data?.items ?? []);
    setError(problem ? problemText(problem) : null);
  }, [type, unreadOnly]);

  useEffect(() => {
    void load();
    const arrived = () => void load();
    window.addEventListener(NOTIFICATIONS_CHANGED + ":arrived", arrived);
    return () => window.removeEventListener(NOTIFICATIONS_CHANGED + ":arrived", arrived);
  }, [load]);

  const act = async (path: "/api/v1/notifications/read" | "/api/v1/notifications/unread" | "/api/v1/notifications/archive",
    ids: string[] | null) => {
    const body = ids === null ? { all: true } : { ids };
    const { error: problem } = await api.POST(path, { body: body as { ids: string[] } });
    setError(problem ? problemText(problem) : null);
    window.dispatchEvent(new Event(NOTIFICATIONS_CHANGED));
    await load();
  };

  return (
    <>
      <Space style={{ width: "100%", justifyContent: "space-between", marginBottom: 12 }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>{t("notifications.title")}</Typography.Title>
        <Button onClick={() => act("/api/v1/notifications/read", null)} data-testid="read-all">{t("notifications.readAll")}</Button>
      </Space>
      <Space style={{ marginBottom: 12 }} wrap>
        <Select allowClear style={{ width: 240 }} placeholder={t("notifications.type")} value={type} onChange={setType}
          aria-label={t("notifications.type")} data-testid="type-filter"
          options={TYPES.map((k) => ({ value: k, label: t(`ntype.${k}` as MessageKey) }))} />
        <Checkbox checked={unreadOnly} onChange={(e) => setUnreadOnly(e.target.checked)}>{t("notifications.unreadOnly")}</Checkbox>
      </Space>
      {error && <Alert type="error" message={error} showIcon style={{ marginBottom: 12 }} />}
      <List<Notification> loading={items === null} dataSource={items ?? []} data-testid="notification-list"
        locale={{ emptyText: t("notifications.empty") }}
        renderItem={(n) => {
          const to = recordLink(n.link);
          const title = to ? <Link to={to}>{n.title}</Link> : n.title;
          return (
            <List.Item data-testid="notification" data-read={n.read_at ? "yes" : "no"} actions={[
              n.read_at
                ? <Button key="u" size="small" onClick={() => act("/api/v1/notifications/unread", [n.id])}>{t("notifications.markUnread")}</Button>
                : <Button key="r" size="small" onClick={() => act("/api/v1/notifications/read", [n.id])}>{t("notifications.markRead")}</Button>,
              <Button key="a" size="small" onClick={() => act("/api/v1/notifications/archive", [n.id])}>{t("notifications.archive")}</Button>,
            ]}>
              <List.Item.Meta
                title={<Space>{!n.read_at && <Tag color="blue">{t("notifications.new")}</Tag>}{title}
                  {n.count > 1 && <Tag>×{n.count}</Tag>}</Space>}
                description={<>{n.body} · {t(`ntype.${n.type}` as MessageKey) ?? n.type} · {formatDateTime(n.updated_at, locale)}</>} />
            </List.Item>
          );
        }} />
    </>
  );
}
