import { TranslationOutlined } from "@ant-design/icons";
import { Button, Card } from "antd";
import type { ReactNode } from "react";

import { useApp } from "../AppContext";

export default function AuthShell({ title, children }: { title: string; children: ReactNode }) {
  const { t, locale, setLocale } = useApp();
  return (
    <main className="auth-page">
      <Button className="auth-lang" icon={<TranslationOutlined />} data-testid="language-switch"
        onClick={() => setLocale(locale === "en" ? "zh-CN" : "en")}>
        {t("header.language")}
      </Button>
      <Card className="auth-card" title={<h1 style={{ fontSize: 20, margin: 0 }}>{title}</h1>}>
        {children}
      </Card>
    </main>
  );
}
