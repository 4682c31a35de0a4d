import { Tabs, Typography } from "antd";
import { useNavigate, useParams } from "react-router-dom";

import { useApp } from "../../AppContext";
import { CalendarTab } from "./AdminCalendar";
import { ApiKeysTab, AuditTab, CustomFieldsTab } from "./AdminMore";
import { DepartmentsTab, RolesTab, UsersTab } from "./AdminPeople";
import { RulesTab } from "./AdminRules";
import { WebhooksTab } from "./AdminWebhooks";
import { WorkflowsTab } from "./AdminWorkflows";

const TABS = ["users", "departments", "roles", "custom-fields", "api-keys", "audit", "workflows", "webhooks", "rules",
  "calendar"] as const;

/** 系统管理: one tab per admin area, the tab in the URL (/admin/roles) so it can be linked. */
export default function Admin() {
  const { t } = useApp();
  const { tab } = useParams();
  const navigate = useNavigate();
  const active = (TABS as readonly string[]).includes(tab ?? "") ? tab! : "users";
  const body = {
    users: <UsersTab />, departments: <DepartmentsTab />, roles: <RolesTab />, "custom-fields": <CustomFieldsTab />,
    "api-keys": <ApiKeysTab />, audit: <AuditTab />, workflows: <WorkflowsTab />,
    webhooks: <WebhooksTab />, rules: <RulesTab />, calendar: <CalendarTab />,
  } as const;
  return (
    <>
      <Typography.Title level={3}>{t("nav.admin")}</Typography.Title>
      <Tabs activeKey={active} onChange={(key) => navigate(`/admin/${key}`)} destroyInactiveTabPane
        items={TABS.map((key) => ({ key, label: t(`admin.tab.${key}`), children: body[key] }))} />
    </>
  );
}
