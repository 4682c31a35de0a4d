import { App, Alert, Input, Modal, Space, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { api, type Schemas } from "../api/client";
import { useApp } from "../AppContext";
import Board from "../components/Board";
import { problemText } from "../components/forms";
import { personName, useUserNames } from "../components/useUserNames";
import { formatDateTime } from "../lib/format";
import { OBJECTION_STATUSES, objectionStatusKey, severityKey, slaBadge } from "../lib/work";

type Objection = Schemas["ObjectionOut"];
type Status = (typeof OBJECTION_STATUSES)[number];

export default function Objections() {
  const { t, locale } = useApp();
  const { message } = App.useApp();
  const names = useUserNames();
  const [items, setItems] = useState<Objection[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [resolving, setResolving] = useState<Objection | null>(null);
  const [resolution, setResolution] = useState("");

  const load = useCallback(async () => {
    // One page per status, so a busy column does not crowd the others out.
    const pages = await Promise.all(OBJECTION_STATUSES.map((status) =>
      api.GET("/api/v1/objections", { params: { query: { status, sort: "due_at", limit: 100 } } })));
    const failed = pages.find((p) => p.error);
    setError(failed ? problemText(failed.error) : null);
    setItems(pages.flatMap((p) => p.data?.items ?? []));
  }, []);
  useEffect(() => { void load(); }, [load]);

  const move = async (item: Objection, to: string, resolutionText?: string) => {
    if (to === "resolved" && resolutionText === undefined && !item.resolution) {
      setResolution("");
      setResolving(item);
      return;
    }
    const { data, error: problem } = await api.PATCH("/api/v1/objections/{objection_id}", {
      params: { path: { objection_id: item.id } },
      body: { status: to as Status, ...(resolutionText ? { resolution: resolutionText } : {}) },
      headers: { "If-Match": `"${item.version}"` },
    });
    if (data) {
      setItems((cur) => (cur ?? []).map((o) => (o.id === data.id ? data : o)));
      message.success(t("objections.moved"));
    } else {
      // The API says why (an illegal move names the allowed ones), in the user's language.
      message.error({ content: problemText(problem) ?? t("common.error"), className: "move-refused" });
      void load();
    }
  };

  return (
    <>
      <Space direction="vertical" style={{ width: "100%", marginBottom: 12 }}>
        <Typography.Title level={3} style={{ margin: 0 }}>{t("objections.title")}</Typography.Title>
        <Typography.Text type="secondary">{t("board.dragHint")}</Typography.Text>
      </Space>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Board<Objection> testId="objection-board" items={items ?? []} moveLabel={t("objections.moveTo")} emptyText={t("board.empty")}
        columns={OBJECTION_STATUSES.map((s) => ({ key: s, title: t(objectionStatusKey(s)) }))}
        columnOf={(o) => o.status ?? "open"} idOf={(o) => o.id} onMove={(o, to) => void move(o, to)}
        render={(o) => {
          const badge = slaBadge(o.sla_state);
          const severity = severityKey(o.severity ?? "");
          return (
            <Space direction="vertical" size={4} style={{ width: "100%" }}>
              <Link to={`/customers/${o.customer_id}`}>{o.description}</Link>
              <Space size={4} wrap>
                {badge && <Tag color={badge.color} data-testid="sla-badge">{t(badge.key)}</Tag>}
                {severity && <Tag>{t(severity)}</Tag>}
                <Tag>{o.category}</Tag>
              </Space>
              <Typography.Text type="secondary" style={{ fontSize: 12 }}>
                {[personName(o.assignee_id, names), o.due_at ? formatDateTime(o.due_at, locale) : null].filter(Boolean).join(" · ")}
              </Typography.Text>
            </Space>
          );
        }} />
      <Modal open={resolving !== null} title={t("objections.resolveTitle")} okButtonProps={{ disabled: !resolution.trim() }}
        onCancel={() => setResolving(null)}
        onOk={() => { const item = resolving; setResolving(null); if (item) void move(item, "resolved", resolution.trim()); }}>
        <Input.TextArea aria-label={t("objections.resolution")} value={resolution} autoSize={{ minRows: 3 }}
          onChange={(e) => setResolution(e.target.value)} data-testid="resolution" />
      </Modal>
    </>
  );
}
