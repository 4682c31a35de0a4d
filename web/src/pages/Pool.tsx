import { App, Alert, Button, Descriptions, Space, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { claim, pool, poolRules, type PoolCustomer, type PoolRules } from "../api/work";
import { useApp } from "../AppContext";
import { problemText } from "../components/forms";
import { formatDateTime } from "../lib/format";
import { STAGE_COLORS, stageKey } from "../lib/labels";

export default function Pool() {
  const { t, locale } = useApp();
  const { message } = App.useApp();
  const [rows, setRows] = useState<PoolCustomer[] | null>(null);
  const [rules, setRules] = useState<PoolRules | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const load = useCallback(async () => {
    const [page, found] = await Promise.all([pool(), poolRules()]);
    setRows(page.data?.items ?? []);
    setRules(found.data ?? null);
    setError(page.error ? problemText(page.error) : null);
  }, []);
  useEffect(() => { void load(); }, [load]);

  const take = async (row: PoolCustomer) => {
    setBusy(row.id);
    const answer = await claim(row.id);
    setBusy(null);
    if (answer.data) {
      setRows((cur) => (cur ?? []).filter((r) => r.id !== row.id));
      message.success(t("pool.claimed"));
    } else {
      // Someone was first, a limit is reached, or the previous owner's cooldown runs: the API says which.
      message.error({ content: problemText(answer.error) ?? t("common.error"), className: "claim-refused" });
    }
  };

  const limit = (value: number | null | undefined) => (value === null || value === undefined ? t("pool.unlimited") : String(value));
  return (
    <>
      <Typography.Title level={3} style={{ marginTop: 0 }}>{t("pool.title")}</Typography.Title>
      {rules && (
        <Descriptions size="small" title={t("pool.limits")} column={{ xs: 1, sm: 3 }} style={{ marginBottom: 12 }} data-testid="pool-limits"
          items={[
            { key: "day", label: t("pool.maxPerDay"), children: limit(rules.max_claims_per_day) },
            { key: "held", label: t("pool.maxHeld"), children: limit(rules.max_customers_held) },
            { key: "cool", label: t("pool.cooldown"), children: rules.cooldown_days },
          ]} />
      )}
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Table<PoolCustomer> rowKey="id" size="middle" loading={rows === null} dataSource={rows ?? []} pagination={false}
        scroll={{ x: "max-content" }} data-testid="pool-table" columns={[
          { title: t("customers.name"), dataIndex: "name", key: "name", render: (name: string, c) => <Link to={`/customers/${c.id}`}>{name}</Link> },
          { title: t("customers.stage"), dataIndex: "lifecycle_stage", key: "stage",
            render: (s: string) => <Tag color={STAGE_COLORS[s]}>{t(stageKey(s))}</Tag> },
          { title: t("customers.phone"), dataIndex: "phone", key: "phone", responsive: ["md"] },
          { title: t("pool.since"), dataIndex: "pool_since", key: "since", render: (v: string) => formatDateTime(v, locale) },
          { title: "", key: "claim", render: (_: unknown, c) => (
            <Space><Button type="primary" size="small" loading={busy === c.id} onClick={() => void take(c)}
              data-testid={`claim-${c.id}`}>{t("pool.claim")}</Button></Space>
          ) },
        ]} />
    </>
  );
}
