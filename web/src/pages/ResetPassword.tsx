import { Alert, Button, Form, Input, Result } from "antd";
import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";

import { api } from "../api/client";
import { useApp } from "../AppContext";
import AuthShell from "../components/AuthShell";
import { problemText, showProblem } from "../components/forms";

// Without ?token=: ask for the e-mail. With the token from that e-mail: choose the new password.
export default function ResetPassword() {
  const { t } = useApp();
  const [params] = useSearchParams();
  const token = params.get("token");
  const [form] = Form.useForm();
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const required = [{ required: true, message: t("common.required") }];

  const requestReset = async (values: { tenant: string; email: string }) => {
    setBusy(true);
    const { error: problem } = await api.POST("/api/v1/auth/password-reset/request", { body: values });
    setBusy(false);
    if (!problem) setDone(t("auth.reset.sent"));
    else setError(showProblem(form, problem, ["tenant", "email"]) ?? problemText(problem));
  };
  const confirmReset = async (values: { new_password: string }) => {
    setBusy(true);
    const { error: problem } = await api.POST("/api/v1/auth/password-reset/confirm", {
      body: { token: token!, new_password: values.new_password },
    });
    setBusy(false);
    if (!problem) setDone(t("auth.reset.done"));
    else setError(showProblem(form, problem, ["new_password"]) ?? problemText(problem));
  };

  return (
    <AuthShell title={t("auth.reset.title")}>
      {done ? (
        <div data-testid="reset-done">
          <Result status="success" title={done} extra={<Link to="/login">{t("auth.backToLogin")}</Link>} />
        </div>
      ) : (
        <>
          {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 16 }} data-testid="form-error" />}
          {token ? (
            <Form form={form} layout="vertical" onFinish={confirmReset} requiredMark={false}>
              <Form.Item name="new_password" label={t("auth.reset.new")} rules={required}>
                <Input.Password autoComplete="new-password" />
              </Form.Item>
              <Button type="primary" htmlType="submit" block loading={busy}>{t("auth.reset.confirm")}</Button>
            </Form>
          ) : (
            <Form form={form} layout="vertical" onFinish={requestReset} requiredMark={false}
              initialValues={{ tenant: localStorage.getItem("huike.lastWorkspace") ?? "" }}>
              <Form.Item name="tenant" label={t("auth.workspace")} rules={required}><Input /></Form.Item>
              <Form.Item name="email" label={t("auth.email")} rules={required}><Input inputMode="email" /></Form.Item>
              <Button type="primary" htmlType="submit" block loading={busy} data-testid="reset-submit">
                {t("auth.reset.send")}
              </Button>
            </Form>
          )}
          <p style={{ marginTop: 16 }}><Link to="/login">{t("auth.backToLogin")}</Link></p>
        </>
      )}
    </AuthShell>
  );
}
