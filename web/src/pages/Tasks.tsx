import { App, Alert, Button, List, Tabs, Tag, Typography } from "antd";
import { useEffect, useState } from "react";
import { Link } from "react-router-dom";

import { api, type Schemas } from "../api/client";
import { useApp } from "../AppContext";
import { problemText } from "../components/forms";
import { personName, useUserNames } from "../components/useUserNames";
import { formatDateTime } from "../lib/format";
import { taskQuery, type TaskTab } from "../lib/work";

type Task = Schemas["TaskOut"];

export default function Tasks() {
  const { t, locale, me } = useApp();
  const { message } = App.useApp();
  const names = useUserNames();
  const [tab, setTab] = useState<TaskTab>("today");
  const [items, setItems] = useState<Task[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (!me) return;
    let live = true;
    setItems(null);
    api.GET("/api/v1/tasks", { params: { query: taskQuery(tab, me.user.id, new Date()) } }).then(({ data, error: problem }) => {
      if (!live) return;
      setItems(data?.items ?? []);
      setError(problem ? problemText(problem) : null);
    });
    return () => { live = false; };
  }, [tab, me]);

  const complete = async (task: Task) => {
    const { data, error: problem } = await api.PATCH("/api/v1/tasks/{task_id}", {
      params: { path: { task_id: task.id } }, body: { status: "done" }, headers: { "If-Match": `"${task.version}"` },
    });
    if (data) {
      setItems((cur) => (cur ?? []).filter((x) => x.id !== task.id));
      message.success(t("tasks.completed"));
    } else {
      message.error(problemText(problem) ?? t("common.error"));
    }
  };

  const now = Date.now();
  const list = (
    <List loading={items === null} dataSource={items ?? []} locale={{ emptyText: t("home.none") }} data-testid="task-list"
      renderItem={(task) => (
        <List.Item data-testid={`task-${task.id}`}>
          <div className="task-row" style={{ width: "100%" }}>
            <div style={{ minWidth: 0, flex: 1 }}>
              <Link to={`/customers/${task.customer_id}`}>{task.title}</Link>
              <div>
                <Typography.Text type={task.due_at && Date.parse(task.due_at) < now ? "danger" : "secondary"} style={{ fontSize: 12 }}>
                  {t("tasks.due")} {formatDateTime(task.due_at, locale)}
                </Typography.Text>
                {task.assignee_id && <Tag style={{ marginLeft: 8 }}>{personName(task.assignee_id, names)}</Tag>}
              </div>
            </div>
            <Button onClick={() => void complete(task)} data-testid="task-complete">{t("tasks.complete")}</Button>
          </div>
        </List.Item>
      )} />
  );
  return (
    <>
      <Typography.Title level={3} style={{ marginTop: 0 }}>{t("tasks.title")}</Typography.Title>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Tabs activeKey={tab} onChange={(key) => setTab(key as TaskTab)} items={(["today", "overdue", "mine"] as const).map((key) => ({
        key, label: t(`tasks.${key}`), children: key === tab ? list : null,
      }))} />
    </>
  );
}
