import { Alert, Button, Form, Input, List, Modal, Segmented, Select, Space, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { api, type Schemas } from "../../api/client";
import { useApp } from "../../AppContext";
import { problemText, showProblem } from "../../components/forms";
import type { MessageKey } from "../../i18n/messages";
import { formatDateTime } from "../../lib/format";
import { nameOf, useUsers } from "../../lib/users";

type Approval = Schemas["ApprovalOut"];
type Decision = "approve" | "reject" | "return" | "transfer";
const STATUS_COLORS: Record<string, string> = { pending: "blue", approved: "green", rejected: "red", returned: "orange" };

/** 审批: what waits for me (approve / reject / return / transfer), and what I asked for. */
export default function Approvals() {
  const { t, locale } = useApp();
  const users = useUsers();
  const [view, setView] = useState<"mine" | "submitted">("mine");
  const [items, setItems] = useState<Approval[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [deciding, setDeciding] = useState<{ approval: Approval; decision: Decision } | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [form] = Form.useForm();

  const load = useCallback(async () => {
    const query = view === "mine" ? { assigned_to: "me" as const } : { submitted_by: "me" as const };
    const { data, error: problem } = await api.GET("/api/v1/approvals", { params: { query: { ...query, limit: 50 } } });
    setItems(data?.items ?? []);
    setError(problem ? problemText(problem) : null);
  }, [view]);
  useEffect(() => { void load(); }, [load]);

  const open = (approval: Approval, decision: Decision) => {
    form.resetFields();
    setFormError(null);
    setDeciding({ approval, decision });
  };

  const submit = async (values: { comment?: string; user_id?: string }) => {
    if (!deciding) return;
    setBusy(true);
    const { error: problem } = await api.POST("/api/v1/approvals/{approval_id}/decisions", {
      params: { path: { approval_id: deciding.approval.id } },
      body: { decision: deciding.decision, comment: values.comment || null, user_id: values.user_id || null },
    });
    setBusy(false);
    if (problem) {
      setFormError(showProblem(form, problem, ["comment", "user_id"]));
      return;
    }
    setDeciding(null);
    await load();
  };

  const needsComment = deciding?.decision === "reject" || deciding?.decision === "return";
  return (
    <>
      <Space style={{ width: "100%", justifyContent: "space-between", marginBottom: 12 }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>{t("approvals.title")}</Typography.Title>
        <Segmented value={view} onChange={(v) => setView(v as typeof view)} options={[
          { value: "mine", label: t("approvals.waiting") }, { value: "submitted", label: t("approvals.submitted") }]} />
      </Space>
      {error && <Alert type="error" message={error} showIcon style={{ marginBottom: 12 }} />}
      <List<Approval> loading={items === null} dataSource={items ?? []} data-testid="approval-list"
        locale={{ emptyText: t("approvals.empty") }}
        renderItem={(a) => (
          <List.Item data-testid="approval" actions={view === "mine" && a.status === "pending" ? [
            <Button key="approve" type="primary" size="small" onClick={() => open(a, "approve")}>{t("approvals.approve")}</Button>,
            <Button key="reject" danger size="small" onClick={() => open(a, "reject")}>{t("approvals.reject")}</Button>,
            <Button key="return" size="small" onClick={() => open(a, "return")}>{t("approvals.return")}</Button>,
            <Button key="transfer" size="small" onClick={() => open(a, "transfer")}>{t("approvals.transfer")}</Button>,
          ] : []}>
            <List.Item.Meta
              title={<Space wrap>
                {a.record.type === "customer" ? <Link to={`/customers/${a.record.id}`}>{a.name}</Link> : a.name}
                <Tag color={STATUS_COLORS[a.status]}>{t(`approvals.status.${a.status}` as MessageKey) ?? a.status}</Tag>
              </Space>}
              description={<>
                {t("approvals.by")} {nameOf(users, a.submitted_by)} · {formatDateTime(a.created_at, locale)} ·{" "}
                {t("approvals.step")} {a.current_step + 1}/{a.steps.length}
                {a.approvers.filter((d) => d.comment).map((d) => (
                  <div key={`${d.step}-${d.user_id}`}>{nameOf(users, d.user_id)}: {d.comment}</div>))}
              </>} />
          </List.Item>
        )} />
      <Modal open={!!deciding} title={deciding ? `${t(`approvals.${deciding.decision}`)} · ${deciding.approval.name}` : ""}
        onCancel={() => setDeciding(null)} onOk={() => form.submit()} confirmLoading={busy}
        okText={t("approvals.confirm")} cancelText={t("common.cancel")} destroyOnClose>
        {formError && <Alert type="error" message={formError} showIcon style={{ marginBottom: 12 }} data-testid="decision-error" />}
        <Form form={form} layout="vertical" onFinish={submit}>
          {deciding?.decision === "transfer" && (
            <Form.Item name="user_id" label={t("approvals.transferTo")}>
              <Select showSearch optionFilterProp="label" aria-label={t("approvals.transferTo")}
                options={users.map((u) => ({ value: u.id, label: `${u.name} (${u.email})` }))} />
            </Form.Item>
          )}
          <Form.Item name="comment" label={needsComment ? t("approvals.commentRequired") : t("approvals.comment")}>
            <Input.TextArea rows={3} maxLength={2000} aria-label={t("approvals.comment")} />
          </Form.Item>
        </Form>
      </Modal>
    </>
  );
}
