import { Alert, Button, Form, Input } from "antd";
import { useState } from "react";
import { Link, useNavigate } from "react-router-dom";

import { api } from "../api/client";
import { SESSION_HEADER } from "../api/session";
import { useApp } from "../AppContext";
import AuthShell from "../components/AuthShell";
import { problemText, showProblem } from "../components/forms";

interface Values { company_name: string; slug?: string; admin_name: string; admin_email: string; admin_password: string }
const FIELDS = ["company_name", "slug", "admin_name", "admin_email", "admin_password"] as const;

export default function Signup() {
  const { t, signedIn } = useApp();
  const [form] = Form.useForm<Values>();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();

  const submit = async ({ slug, ...values }: Values) => {
    setBusy(true);
    setError(null);
    const body = slug ? { ...values, slug } : values;
    const { data, error: problem } = await api.POST("/api/v1/signup", { body, headers: SESSION_HEADER });
    setBusy(false);
    if (data) {
      localStorage.setItem("huike.lastWorkspace", data.tenant.slug);
      await signedIn(data.access_token, data.expires_in);
      navigate("/", { replace: true });
      return;
    }
    setError(showProblem(form, problem, FIELDS) ?? problemText(problem));
  };

  const required = [{ required: true, message: t("common.required") }];
  return (
    <AuthShell title={t("auth.signup")}>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="form-error" />}
      <Form form={form} layout="vertical" onFinish={submit} requiredMark={false}>
        <Form.Item name="company_name" label={t("auth.company")} rules={required}><Input autoComplete="organization" /></Form.Item>
        <Form.Item name="slug" label={t("auth.slug")} extra={t("auth.slug.help")}><Input /></Form.Item>
        <Form.Item name="admin_name" label={t("auth.adminName")} rules={required}><Input autoComplete="name" /></Form.Item>
        <Form.Item name="admin_email" label={t("auth.email")} rules={required}><Input inputMode="email" autoComplete="email" /></Form.Item>
        <Form.Item name="admin_password" label={t("auth.password")} rules={required}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" block loading={busy} data-testid="signup-submit">{t("auth.signup")}</Button>
      </Form>
      <p style={{ marginTop: 16 }}>{t("auth.haveAccount")} <Link to="/login">{t("auth.login")}</Link></p>
    </AuthShell>
  );
}
