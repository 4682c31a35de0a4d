import {
  AlertOutlined, AuditOutlined, CheckSquareOutlined, CloudUploadOutlined, FundOutlined, HomeOutlined, InboxOutlined,
  LogoutOutlined, SearchOutlined, SettingOutlined, TeamOutlined, TranslationOutlined,
} from "@ant-design/icons";
import { Avatar, Button, Dropdown, Input, Layout, Menu } from "antd";
import { useEffect, useState } from "react";
import { Outlet, useLocation, useNavigate } from "react-router-dom";

import { useApp } from "../AppContext";
import { isPaletteShortcut } from "../lib/search";
import NotificationBell from "./NotificationBell";
import SearchPalette from "./SearchPalette";

const { Header, Sider, Content } = Layout;

export default function AppLayout() {
  const { t, locale, setLocale, me, logout } = useApp();
  const navigate = useNavigate();
  const location = useLocation();
  const [paletteOpen, setPaletteOpen] = useState(false);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (isPaletteShortcut(e)) {
        e.preventDefault();
        setPaletteOpen(true);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  const selected = "/" + (location.pathname.split("/")[1] ?? "");
  const items = [
    { key: "/", icon: <HomeOutlined />, label: t("nav.home") },
    { key: "/customers", icon: <TeamOutlined />, label: t("nav.customers") },
    { key: "/objections", icon: <AlertOutlined />, label: t("nav.objections") },
    { key: "/tasks", icon: <CheckSquareOutlined />, label: t("nav.tasks") },
    { key: "/pipeline", icon: <FundOutlined />, label: t("nav.pipeline") },
    { key: "/pool", icon: <InboxOutlined />, label: t("nav.pool") },
    { key: "/approvals", icon: <AuditOutlined />, label: t("nav.approvals") },
    { key: "/imports", icon: <CloudUploadOutlined />, label: t("nav.imports") },
    { key: "/admin", icon: <SettingOutlined />, label: t("nav.admin") },
  ];
  const shortcut = /Mac|iPhone|iPad/.test(navigator.platform) ? "⌘K" : "Ctrl+K";
  return (
    <Layout style={{ minHeight: "100vh" }}>
      <Sider breakpoint="lg" collapsedWidth={0} width={208}>
        <div className="app-logo">{t("app.name")}</div>
        <Menu theme="dark" mode="inline" selectedKeys={[selected]} items={items}
          onClick={({ key }) => navigate(key)} />
      </Sider>
      <Layout>
        <Header className="app-header">
          <Input className="search-trigger" readOnly prefix={<SearchOutlined />} aria-label={t("nav.search")}
            placeholder={`${t("header.search")}  ${shortcut}`} onClick={() => setPaletteOpen(true)}
            onKeyDown={(e) => { if (e.key === "Enter" || e.key === " ") setPaletteOpen(true); }}
            data-testid="search-trigger" />
          <span className="spacer" />
          <NotificationBell />
          <Button icon={<TranslationOutlined />} onClick={() => setLocale(locale === "en" ? "zh-CN" : "en")}
            data-testid="language-switch">
            {t("header.language")}
          </Button>
          <Dropdown menu={{
            items: [{ key: "logout", icon: <LogoutOutlined />, label: t("user.logout") }],
            onClick: async ({ key }) => {
              if (key === "logout") {
                await logout();
                navigate("/login");
              }
            },
          }}>
            <Button type="text" data-testid="user-menu" aria-label={me?.user.name}>
              <Avatar size="small">{me?.user.name.slice(0, 1)}</Avatar>
              <span className="user-name">{me?.user.name}</span>
            </Button>
          </Dropdown>
        </Header>
        <Content className="app-content">
          <Outlet />
        </Content>
      </Layout>
      <SearchPalette open={paletteOpen} onClose={() => setPaletteOpen(false)} />
    </Layout>
  );
}
