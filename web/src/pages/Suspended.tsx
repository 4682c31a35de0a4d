import { Result } from "antd";
import { Link, useLocation } from "react-router-dom";

import { useApp } from "../AppContext";
import AuthShell from "../components/AuthShell";

export default function Suspended() {
  const { t } = useApp();
  const detail = (useLocation().state as { detail?: string } | null)?.detail;
  return (
    <AuthShell title={t("app.name")}>
      <div data-testid="suspended"><Result status="warning" title={t("auth.suspended.title")}
        subTitle={<>{t("auth.suspended.text")}{detail && <><br />{detail}</>}</>}
        extra={<Link to="/login">{t("auth.backToLogin")}</Link>} /></div>
    </AuthShell>
  );
}
