import { PlusOutlined } from "@ant-design/icons";
import { Alert, Button, Checkbox, Form, Input, Select, Space, Table, Tag, Typography } from "antd";
import type { ColumnsType } from "antd/es/table";
import { useEffect, useMemo, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { api, type Schemas } from "../api/client";
import { useApp } from "../AppContext";
import { problemText } from "../components/forms";
import { formatDateTime } from "../lib/format";
import { STAGE_COLORS, STAGES, stageKey } from "../lib/labels";
import { columnOrder, PAGE_SIZE, parseListQuery, sortParam, toSearchParams, type SortField } from "../lib/listQuery";

type Customer = Schemas["CustomerOut"];

export default function CustomerList() {
  const { t, locale } = useApp();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const query = useMemo(() => parseListQuery(params), [params]);
  const [rows, setRows] = useState<Customer[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm();

  useEffect(() => {
    form.setFieldsValue({ lifecycle_stage: query.lifecycle_stage, tier: query.tier, tag: query.tag,
      overdue_follow_up: !!query.overdue_follow_up });
    let live = true;
    setRows(null);
    api.GET("/api/v1/customers", { params: { query: { ...query, limit: PAGE_SIZE } } }).then(({ data, error: problem }) => {
      if (!live) return;
      setRows(data?.items ?? []);
      setNext(data?.next_cursor ?? null);
      setError(problem ? problemText(problem) : null);
    });
    return () => { live = false; };
  }, [query, form]);

  const update = (changes: Partial<typeof query>) => setParams(toSearchParams({ ...query, cursor: undefined, ...changes }));
  const sortable = (field: SortField) => ({ sorter: true, sortOrder: columnOrder(query.sort, field) });
  const columns: ColumnsType<Customer> = [
    { title: t("customers.name"), dataIndex: "name", key: "name", ...sortable("name"),
      render: (name: string, c) => <Link to={`/customers/${c.id}`}>{name}</Link> },
    { title: t("customers.stage"), dataIndex: "lifecycle_stage", key: "lifecycle_stage",
      render: (s: string) => <Tag color={STAGE_COLORS[s]}>{t(stageKey(s))}</Tag> },
    { title: t("customers.tier"), dataIndex: "tier", key: "tier", responsive: ["md"] },
    { title: t("customers.phone"), dataIndex: "phone", key: "phone", responsive: ["md"] },
    { title: t("customers.tags"), dataIndex: "tags", key: "tags", responsive: ["lg"],
      render: (tags: string[]) => tags.map((tag) => <Tag key={tag}>{tag}</Tag>) },
    { title: t("customers.lastInteraction"), dataIndex: "last_interaction_at", key: "last_interaction_at",
      responsive: ["lg"], ...sortable("last_interaction_at"), render: (v: string | null) => formatDateTime(v, locale) },
    { title: t("customers.nextFollowUp"), dataIndex: "next_follow_up_at", key: "next_follow_up_at",
      ...sortable("next_follow_up_at"), render: (v: string | null) => formatDateTime(v, locale) },
    { title: t("customers.createdAt"), dataIndex: "created_at", key: "created_at", responsive: ["xl"],
      ...sortable("created_at"), render: (v: string) => formatDateTime(v, locale) },
  ];

  return (
    <>
      <Space style={{ width: "100%", justifyContent: "space-between", marginBottom: 12 }} wrap>
        <Typography.Title level={3} style={{ margin: 0 }}>{t("customers.title")}</Typography.Title>
        <Button type="primary" icon={<PlusOutlined />} onClick={() => navigate("/customers/new")} data-testid="new-customer">
          {t("customers.new")}
        </Button>
      </Space>
      <Form form={form} layout="inline" style={{ marginBottom: 12, rowGap: 8 }}
        onFinish={(v) => update({ lifecycle_stage: v.lifecycle_stage, tier: v.tier, tag: v.tag,
          overdue_follow_up: v.overdue_follow_up || undefined })}>
        <Form.Item name="lifecycle_stage" label={t("customers.stage")}>
          <Select allowClear style={{ width: 140 }} options={STAGES.map((s) => ({ value: s, label: t(stageKey(s)) }))} />
        </Form.Item>
        <Form.Item name="tier" label={t("customers.tier")}><Input style={{ width: 100 }} /></Form.Item>
        <Form.Item name="tag" label={t("customers.tags")}><Input style={{ width: 120 }} /></Form.Item>
        <Form.Item name="overdue_follow_up" valuePropName="checked"><Checkbox>{t("customers.overdue")}</Checkbox></Form.Item>
        <Space>
          <Button htmlType="submit" type="primary">{t("common.search")}</Button>
          <Button onClick={() => setParams(new URLSearchParams())}>{t("common.reset")}</Button>
        </Space>
      </Form>
      {error && <Alert type="error" message={error} showIcon style={{ marginBottom: 12 }} />}
      <Table<Customer> rowKey="id" size="middle" columns={columns} dataSource={rows ?? []} loading={rows === null}
        pagination={false} scroll={{ x: "max-content" }} data-testid="customer-table"
        onChange={(_p, _f, sorter) => {
          const s = Array.isArray(sorter) ? sorter[0] : sorter;
          update({ sort: sortParam(s?.columnKey as string | undefined, s?.order) });
        }} />
      <Space style={{ marginTop: 12 }}>
        <Button disabled={!query.cursor} onClick={() => update({})}>{t("customers.first")}</Button>
        <Button disabled={!next} onClick={() => setParams(toSearchParams({ ...query, cursor: next ?? undefined }))}
          data-testid="next-page">{t("customers.next")}</Button>
      </Space>
    </>
  );
}
