import { Alert, Button, Form, Input, Result } from "antd";
import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";

import { api } from "../api/client";
import { SESSION_HEADER } from "../api/session";
import { useApp } from "../AppContext";
import AuthShell from "../components/AuthShell";
import { problemText, showProblem } from "../components/forms";

export default function AcceptInvitation() {
  const { t, signedIn } = useApp();
  const [params] = useSearchParams();
  const token = params.get("token");
  const [form] = Form.useForm();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const navigate = useNavigate();

  if (!token) {
    return (
      <AuthShell title={t("auth.invite.title")}>
        <Result status="warning" title={t("auth.invite.missing")} extra={<Link to="/login">{t("auth.backToLogin")}</Link>} />
      </AuthShell>
    );
  }
  const submit = async (values: { name?: string; password: string }) => {
    setBusy(true);
    const { data, error: problem } = await api.POST("/api/v1/invitations/accept", {
      body: { token, password: values.password, name: values.name || null }, headers: SESSION_HEADER,
    });
    setBusy(false);
    if (data) {
      await signedIn(data.access_token, data.expires_in);
      navigate("/", { replace: true });
    } else {
      setError(showProblem(form, problem, ["name", "password"]) ?? problemText(problem));
    }
  };
  return (
    <AuthShell title={t("auth.invite.title")}>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="form-error" />}
      <Form form={form} layout="vertical" onFinish={submit} requiredMark={false}>
        <Form.Item name="name" label={t("auth.invite.name")}><Input autoComplete="name" /></Form.Item>
        <Form.Item name="password" label={t("auth.password")} rules={[{ required: true, message: t("common.required") }]}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
        <Button type="primary" htmlType="submit" block loading={busy} data-testid="invite-submit">
          {t("auth.invite.accept")}
        </Button>
      </Form>
    </AuthShell>
  );
}
