import { EditOutlined } from "@ant-design/icons";
import {
  App, Button, Card, Col, DatePicker, Descriptions, Empty, Form, Input, List, Modal, Popconfirm, Result, Row, Select, Space, Spin,
  Tabs, Tag, Timeline, Typography,
} from "antd";
import type { Dayjs } from "dayjs";
import { useCallback, useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";

import { api, apiFetch, type Schemas } from "../api/client";
import { useApp } from "../AppContext";
import { problemText, showProblem } from "../components/forms";
import { personName, useUserNames } from "../components/useUserNames";
import { release, transfer } from "../api/work";
import { formatDate, formatDateTime } from "../lib/format";
import { CHANNELS, channelKey, STAGE_COLORS, stageKey } from "../lib/labels";

// GET /customers/{id}/timeline is an untyped object in the OpenAPI document today; its items:
interface TimelineItem {
  kind: string;
  at: string;
  id: string;
  entity: string;
  entity_id: string;
  summary: string;
}

interface CallValues { channel: string; summary: string; next_step?: string; follow_up?: Dayjs | null }

function LogCall({ customerId, onLogged }: { customerId: string; onLogged: () => void }) {
  const { t } = useApp();
  const { message } = App.useApp();
  const [form] = Form.useForm<CallValues>();
  const [busy, setBusy] = useState(false);
  const submit = async (values: CallValues) => {
    setBusy(true);
    const { data, error } = await api.POST("/api/v1/interactions", {
      body: {
        customer_id: customerId, channel: values.channel, summary: values.summary,
        next_step: values.next_step || null,
        next_follow_up_at: values.follow_up ? values.follow_up.hour(9).minute(0).second(0).toISOString() : null,
      },
    });
    setBusy(false);
    if (data) {
      form.resetFields();
      message.success(t("c360.logged"));
      onLogged();
    } else {
      const text = showProblem(form, error, ["channel", "summary", "next_step", "next_follow_up_at"]);
      if (text) message.error(text);
    }
  };
  return (
    <Card title={t("c360.logCall")} size="small" data-testid="log-call">
      <Form form={form} layout="vertical" onFinish={submit} initialValues={{ channel: "phone" }}>
        <Form.Item name="channel" label={t("c360.channel")}>
          <Select options={CHANNELS.map((c) => ({ value: c, label: t(channelKey(c)) }))} />
        </Form.Item>
        <Form.Item name="summary" label={t("c360.summary")} rules={[{ required: true, message: t("common.required") }]}>
          <Input.TextArea autoSize={{ minRows: 2 }} data-testid="call-summary" />
        </Form.Item>
        <Form.Item name="next_step" label={t("c360.nextStep")}><Input /></Form.Item>
        <Form.Item name="follow_up" label={t("c360.followUpDate")}><DatePicker style={{ width: "100%" }} /></Form.Item>
        <Button type="primary" htmlType="submit" loading={busy} block data-testid="call-submit">{t("c360.logCall")}</Button>
      </Form>
    </Card>
  );
}

/** Transfer to another user, and return to the public pool, from the customer's page. */
function OwnerActions({ customer, onChanged }: { customer: Schemas["CustomerOut"]; onChanged: () => void }) {
  const { t } = useApp();
  const { message } = App.useApp();
  const names = useUserNames();
  const [open, setOpen] = useState(false);
  const [to, setTo] = useState<string | null>(null);
  const doTransfer = async () => {
    if (!to) return;
    const problem = await transfer([customer.id], to);
    if (problem) { message.error(problemText(problem) ?? t("common.error")); return; }
    setOpen(false);
    message.success(t("transfer.done"));
    onChanged();
  };
  const doRelease = async () => {
    const answer = await release(customer.id);
    if (answer.error) { message.error(problemText(answer.error) ?? t("common.error")); return; }
    message.success(t("pool.released"));
    onChanged();
  };
  return (
    <>
      <Button onClick={() => setOpen(true)} data-testid="transfer">{t("transfer.action")}</Button>
      {customer.owner_id && (
        <Popconfirm title={t("pool.releaseConfirm")} onConfirm={() => void doRelease()}>
          <Button data-testid="release">{t("pool.release")}</Button>
        </Popconfirm>
      )}
      <Modal open={open} title={t("transfer.title")} onCancel={() => setOpen(false)} onOk={() => void doTransfer()}
        okButtonProps={{ disabled: !to }}>
        <Select style={{ width: "100%" }} aria-label={t("transfer.to")} placeholder={t("transfer.to")} value={to} onChange={setTo}
          showSearch optionFilterProp="label" data-testid="transfer-to"
          options={[...names].filter(([uid]) => uid !== customer.owner_id).map(([value, label]) => ({ value, label }))} />
      </Modal>
    </>
  );
}

export default function Customer360() {
  const { id = "" } = useParams();
  const { t, locale } = useApp();
  const names = useUserNames();
  const [customer, setCustomer] = useState<Schemas["CustomerOut"] | null | undefined>(undefined);
  const [timeline, setTimeline] = useState<TimelineItem[] | null>(null);
  const [contacts, setContacts] = useState<Schemas["ContactOut"][] | null>(null);
  const [interactions, setInteractions] = useState<Schemas["InteractionOut"][] | null>(null);
  const [objections, setObjections] = useState<Schemas["ObjectionOut"][] | null>(null);
  const [tasks, setTasks] = useState<Schemas["TaskOut"][] | null>(null);

  const loadActivity = useCallback(async () => {
    // The header's last interaction and next follow-up move with a logged call.
    void api.GET("/api/v1/customers/{customer_id}", { params: { path: { customer_id: id } } })
      .then(({ data }) => data && setCustomer(data));
    const res = await apiFetch(new Request(`/api/v1/customers/${id}/timeline?limit=50`));
    setTimeline(res.ok ? ((await res.json()) as { items: TimelineItem[] }).items : []);
    const { data } = await api.GET("/api/v1/interactions", { params: { query: { customer_id: id, limit: 50 } } });
    setInteractions(data?.items ?? []);
  }, [id]);

  useEffect(() => {
    setCustomer(undefined);
    api.GET("/api/v1/customers/{customer_id}", { params: { path: { customer_id: id } } })
      .then(({ data }) => setCustomer(data ?? null));
    void loadActivity();
    const query = { customer_id: id, limit: 50 };
    api.GET("/api/v1/contacts", { params: { query } }).then(({ data }) => setContacts(data?.items ?? []));
    api.GET("/api/v1/objections", { params: { query } }).then(({ data }) => setObjections(data?.items ?? []));
    api.GET("/api/v1/tasks", { params: { query } }).then(({ data }) => setTasks(data?.items ?? []));
  }, [id, loadActivity]);

  if (customer === undefined) return <Spin />;
  if (customer === null) return <Result status="404" title={t("common.notFound")} extra={<Link to="/customers">{t("nav.customers")}</Link>} />;

  const owner = customer.owner_id ? personName(customer.owner_id, names) : t("customers.ownerNone");
  const empty = <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} />;
  const tabs = [
    { key: "timeline", label: t("c360.timeline"), children: timeline === null ? <Spin /> : timeline.length === 0 ? empty : (
      <Timeline data-testid="timeline" items={timeline.map((item) => ({
        key: `${item.kind}-${item.id}`,
        children: <><Typography.Text type="secondary">{formatDateTime(item.at, locale)}</Typography.Text><div>{item.summary}</div></>,
      }))} />
    ) },
    { key: "contacts", label: t("c360.contacts"), children: (
      <List loading={contacts === null} dataSource={contacts ?? []} locale={{ emptyText: empty }}
        renderItem={(c) => <List.Item><List.Item.Meta title={c.name} description={[c.title, c.phone, c.email].filter(Boolean).join(" · ")} /></List.Item>} />
    ) },
    { key: "interactions", label: t("c360.interactions"), children: (
      <List loading={interactions === null} dataSource={interactions ?? []} locale={{ emptyText: empty }} data-testid="interactions"
        renderItem={(i) => (
          <List.Item><List.Item.Meta title={<Space><Tag>{t(channelKey(i.channel ?? "other"))}</Tag>{i.summary}</Space>}
            description={[formatDateTime(i.occurred_at, locale), i.next_step].filter(Boolean).join(" · ")} /></List.Item>
        )} />
    ) },
    { key: "objections", label: t("c360.objections"), children: (
      <List loading={objections === null} dataSource={objections ?? []} locale={{ emptyText: empty }}
        renderItem={(o) => <List.Item><List.Item.Meta title={<Space><Tag>{o.status}</Tag>{o.description}</Space>}
          description={`${o.category} · ${o.severity} · ${formatDateTime(o.due_at, locale)}`} /></List.Item>} />
    ) },
    { key: "tasks", label: t("c360.tasks"), children: (
      <List loading={tasks === null} dataSource={tasks ?? []} locale={{ emptyText: empty }}
        renderItem={(task) => <List.Item><List.Item.Meta title={task.title}
          description={`${task.status} · ${formatDateTime(task.due_at, locale)}`} /></List.Item>} />
    ) },
  ];
  return (
    <>
      <Card className="c360-header" data-testid="customer-header">
        <Space style={{ width: "100%", justifyContent: "space-between" }} wrap>
          <Typography.Title level={3} style={{ margin: 0 }}>{customer.name}</Typography.Title>
          <Space wrap>
            <OwnerActions customer={customer} onChanged={() => void loadActivity()} />
            <Link to={`/customers/${customer.id}/edit`}><Button icon={<EditOutlined />}>{t("common.edit")}</Button></Link>
          </Space>
        </Space>
        <Descriptions size="small" column={{ xs: 1, sm: 2, lg: 4 }} style={{ marginTop: 12 }} items={[
          { key: "owner", label: t("customers.owner"), children: <span data-testid="owner">{owner}</span> },
          { key: "stage", label: t("customers.stage"), children: customer.lifecycle_stage
            ? <Tag color={STAGE_COLORS[customer.lifecycle_stage]}>{t(stageKey(customer.lifecycle_stage))}</Tag> : "—" },
          { key: "tier", label: t("customers.tier"), children: customer.tier ?? "—" },
          { key: "tags", label: t("customers.tags"), children: customer.tags?.length ? customer.tags.map((g) => <Tag key={g}>{g}</Tag>) : "—" },
          { key: "phone", label: t("customers.phone"), children: customer.phone ?? "—" },
          { key: "email", label: t("customers.email"), children: customer.email ?? "—" },
          { key: "last", label: t("customers.lastInteraction"), children: formatDateTime(customer.last_interaction_at, locale) },
          { key: "next", label: t("customers.nextFollowUp"), children: formatDate(customer.next_follow_up_at, locale) },
        ]} />
      </Card>
      <Row gutter={[16, 16]}>
        <Col xs={24} lg={16}><Card><Tabs items={tabs} /></Card></Col>
        <Col xs={24} lg={8}><LogCall customerId={customer.id} onLogged={() => void loadActivity()} /></Col>
      </Row>
    </>
  );
}
