import { Alert, Button, Form, Input } from "antd";
import { useState } from "react";
import { Link, useLocation, useNavigate } from "react-router-dom";

import { api } from "../api/client";
import { problemKind } from "../api/problem";
import { SESSION_HEADER } from "../api/session";
import { useApp } from "../AppContext";
import AuthShell from "../components/AuthShell";
import { problemText, showProblem } from "../components/forms";

interface Values { tenant: string; email: string; password: string }
const FIELDS = ["tenant", "email", "password"] as const;

export default function Login() {
  const { t, signedIn } = useApp();
  const [form] = Form.useForm<Values>();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();
  const from = (useLocation().state as { from?: string } | null)?.from ?? "/";

  const submit = async (values: Values) => {
    setBusy(true);
    setError(null);
    const { data, error: problem } = await api.POST("/api/v1/auth/login", { body: values, headers: SESSION_HEADER });
    setBusy(false);
    if (data) {
      await signedIn(data.access_token, data.expires_in);
      navigate(from, { replace: true });
      return;
    }
    if (problem && problemKind(problem as never) === "tenant-suspended") {
      navigate("/suspended", { state: { detail: problemText(problem) } });
      return;
    }
    setError(showProblem(form, problem, FIELDS) ?? problemText(problem));
  };

  return (
    <AuthShell title={`${t("app.name")} · ${t("auth.login")}`}>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="form-error" />}
      <Form form={form} layout="vertical" onFinish={submit} requiredMark={false}
        initialValues={{ tenant: localStorage.getItem("huike.lastWorkspace") ?? "" }}
        onValuesChange={(_, all) => all.tenant && localStorage.setItem("huike.lastWorkspace", all.tenant)}>
        <Form.Item name="tenant" label={t("auth.workspace")} rules={[{ required: true, message: t("common.required") }]}>
          <Input autoComplete="organization" />
        </Form.Item>
        <Form.Item name="email" label={t("auth.email")} rules={[{ required: true, message: t("common.required") }]}>
          <Input inputMode="email" autoComplete="username" />
        </Form.Item>
        <Form.Item name="password" label={t("auth.password")} rules={[{ required: true, message: t("common.required") }]}>
          <Input.Password autoComplete="current-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" block loading={busy} data-testid="login-submit">{t("auth.login")}</Button>
      </Form>
      <p style={{ marginTop: 16 }}>
        <Link to="/reset-password">{t("auth.forgot")}</Link>
        {" · "}{t("auth.noAccount")} <Link to="/signup">{t("auth.signup")}</Link>
      </p>
    </AuthShell>
  );
}
