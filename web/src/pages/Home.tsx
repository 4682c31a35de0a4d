import { Card, Col, List, Row, Typography } from "antd";
import { lazy, Suspense, useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { api, type Schemas } from "../api/client";
import { useApp } from "../AppContext";
import { seesDepartmentCharts } from "../lib/charts";
import { formatDateTime } from "../lib/format";

// Charts (and ECharts) load only for managers.
const ManagerCharts = lazy(() => import("../components/ManagerCharts"));

// My day (for everyone): what the services answer for the signed-in user; for managers (a department
// or wider report scope, or the manager role) the department's charts too.
export default function Home() {
  const { t, me, locale } = useApp();
  const [followUps, setFollowUps] = useState<Schemas["CustomerOut"][] | null>(null);
  const [tasks, setTasks] = useState<Schemas["TaskOut"][] | null>(null);
  const [objections, setObjections] = useState<Schemas["ObjectionOut"][] | null>(null);
  const [approvals, setApprovals] = useState<Schemas["ApprovalOut"][] | null>(null);
  const manager = seesDepartmentCharts(me);

  useEffect(() => {
    if (!me) return;
    const mine = me.user.id;
    api.GET("/api/v1/customers", { params: { query: { owner_id: mine, overdue_follow_up: true, sort: "next_follow_up_at", limit: 10 } } })
      .then(({ data }) => setFollowUps(data?.items ?? []));
    api.GET("/api/v1/tasks", { params: { query: { assignee_id: mine, overdue: true, limit: 10 } } })
      .then(({ data }) => setTasks(data?.items ?? []));
    api.GET("/api/v1/objections", { params: { query: { assignee_id: mine, overdue: true, limit: 10 } } })
      .then(({ data }) => setObjections(data?.items ?? []));
    api.GET("/api/v1/approvals", { params: { query: { assigned_to: "me", limit: 10 } } })
      .then(({ data }) => setApprovals(data?.items ?? []));
  }, [me]);

  return (
    <>
      <Typography.Title level={3}>{t("home.title")}</Typography.Title>
      <Row gutter={[16, 16]}>
        <Col xs={24} lg={8}>
          <Card title={t("home.followUps")} data-testid="home-follow-ups">
            <List loading={followUps === null} dataSource={followUps ?? []} locale={{ emptyText: t("home.none") }}
              renderItem={(c) => (
                <List.Item><Link to={`/customers/${c.id}`}>{c.name}</Link>{formatDateTime(c.next_follow_up_at, locale)}</List.Item>
              )} />
          </Card>
        </Col>
        <Col xs={24} lg={8}>
          <Card title={t("home.overdueTasks")}>
            <List loading={tasks === null} dataSource={tasks ?? []} locale={{ emptyText: t("home.none") }}
              renderItem={(task) => (
                <List.Item><Link to={`/customers/${task.customer_id}`}>{task.title}</Link>{formatDateTime(task.due_at, locale)}</List.Item>
              )} />
          </Card>
        </Col>
        <Col xs={24} lg={8}>
          <Card title={t("home.objectionsAtRisk")}>
            <List loading={objections === null} dataSource={objections ?? []} locale={{ emptyText: t("home.none") }}
              renderItem={(o) => (
                <List.Item><Link to={`/customers/${o.customer_id}`}>{o.description}</Link>{formatDateTime(o.due_at, locale)}</List.Item>
              )} />
          </Card>
        </Col>
        <Col xs={24} lg={8}>
          <Card title={t("home.approvals")} data-testid="home-approvals">
            <List loading={approvals === null} dataSource={approvals ?? []} locale={{ emptyText: t("home.none") }}
              renderItem={(a) => (
                <List.Item><Link to="/approvals">{a.name}</Link>{formatDateTime(a.step_started_at, locale)}</List.Item>
              )} />
          </Card>
        </Col>
      </Row>
      {manager && <Suspense fallback={null}><ManagerCharts /></Suspense>}
    </>
  );
}
