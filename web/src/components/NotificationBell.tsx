import { BellOutlined } from "@ant-design/icons";
import { Badge, Button } from "antd";
import { useCallback, useEffect, useState } from "react";
import { useNavigate } from "react-router-dom";

import { api, apiFetch } from "../api/client";
import { useApp } from "../AppContext";
import { openStream } from "../lib/sse";

export const NOTIFICATIONS_CHANGED = "huike:notifications-changed";

/** The unread count, kept live by the notifications stream. Each event re-reads the count rather
 * than adding one: a collapsed burst comes again with the same id, and the inbox page may have
 * read or archived some meanwhile (it says so with NOTIFICATIONS_CHANGED). */
export default function NotificationBell() {
  const { t } = useApp();
  const navigate = useNavigate();
  const [unread, setUnread] = useState(0);

  const reload = useCallback(() => {
    void api.GET("/api/v1/notifications/unread-count").then(({ data }) => { if (data) setUnread(data.unread); });
  }, []);

  useEffect(() => {
    reload();
    window.addEventListener(NOTIFICATIONS_CHANGED, reload);
    const close = openStream("/api/v1/notifications/stream", {
      fetchImpl: (path, init) => apiFetch(new Request(path, init)),
      onOpen: reload,
      onEvent: (event) => {
        if (event.event !== "notification") return;
        reload();
        window.dispatchEvent(new CustomEvent(NOTIFICATIONS_CHANGED + ":arrived"));
      },
    });
    return () => {
      close();
      window.removeEventListener(NOTIFICATIONS_CHANGED, reload);
    };
  }, [reload]);

  return (
    <Button type="text" onClick={() => navigate("/notifications")} data-testid="notification-bell"
      aria-label={`${t("notifications.title")} (${unread} ${t("notifications.unread")})`}>
      <Badge count={unread} size="small" overflowCount={99} data-testid="unread-count">
        <BellOutlined style={{ fontSize: 18 }} />
      </Badge>
    </Button>
  );
}
