import { App as AntApp, ConfigProvider, Spin } from "antd";
import enUS from "antd/locale/en_US";
import zhCN from "antd/locale/zh_CN";
import dayjs from "dayjs";
import "dayjs/locale/zh-cn";
import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router-dom";

import { api, setClientLocale } from "./api/client";
import { endSession, hasSessionCookie, refreshAccess, setAccess } from "./api/session";
import { AppContext, type AppState, type Me } from "./AppContext";
import AppLayout from "./components/AppLayout";
import { normaliseLocale, rememberLocale, storedLocale, translate, type Locale } from "./i18n/locale";
import type { MessageKey } from "./i18n/messages";
import { nonceInsertedStyles } from "./lib/styleNonce";
import Login from "./pages/Login";

// Pages a signed-out visitor never needs load on demand: the first page stays small.
const Signup = lazy(() => import("./pages/Signup"));
const ResetPassword = lazy(() => import("./pages/ResetPassword"));
const AcceptInvitation = lazy(() => import("./pages/AcceptInvitation"));
const Suspended = lazy(() => import("./pages/Suspended"));
// A returning user's first page: fetched while the session is being refreshed, not after.
const homeChunk = hasSessionCookie() ? import("./pages/Home") : null;
const Home = lazy(() => homeChunk ?? import("./pages/Home"));
const CustomerList = lazy(() => import("./pages/CustomerList"));
const CustomerForm = lazy(() => import("./pages/CustomerForm"));
const Customer360 = lazy(() => import("./pages/Customer360"));
const Objections = lazy(() => import("./pages/Objections"));
const Tasks = lazy(() => import("./pages/Tasks"));
const Pipeline = lazy(() => import("./pages/Pipeline"));
const Pool = lazy(() => import("./pages/Pool"));
const Notifications = lazy(() => import("./pages/admin/Notifications"));
const Approvals = lazy(() => import("./pages/admin/Approvals"));
const Imports = lazy(() => import("./pages/admin/Imports"));
const Admin = lazy(() => import("./pages/admin/Admin"));
const WorkflowEditor = lazy(() => import("./pages/workflows/WorkflowEditor"));

// The nonce the server put in index.html for this answer: Ant Design's <style> tags carry it.
const nonce = document.querySelector<HTMLMetaElement>('meta[name="csp-nonce"]')?.content ?? "";
nonceInsertedStyles(nonce);

function RequireSession({ me, children }: { me: Me | null; children: JSX.Element }) {
  const location = useLocation();
  if (!me) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  return children;
}

export default function App() {
  const [locale, setLocaleState] = useState<Locale>(() => storedLocale(localStorage));
  const [me, setMe] = useState<Me | null>(null);
  const [booting, setBooting] = useState(hasSessionCookie());

  useEffect(() => {
    setClientLocale(locale);
    dayjs.locale(locale === "en" ? "en" : "zh-cn");
    document.documentElement.lang = locale;
  }, [locale]);

  const loadMe = useCallback(async () => {
    const { data } = await api.GET("/api/v1/me");
    if (data) {
      setMe(data);
      const mine = normaliseLocale(data.user.locale);
      setLocaleState(mine);
      rememberLocale(localStorage, mine);
    }
    return data ?? null;
  }, []);

  // A returning visitor: the HttpOnly cookie gives a new access token without typing anything.
  useEffect(() => {
    if (!booting) return;
    refreshAccess()
      .then((token) => (token ? loadMe() : null))
      .finally(() => setBooting(false));
  }, [booting, loadMe]);

  const state = useMemo<AppState>(() => ({
    locale,
    t: (key: MessageKey) => translate(locale, key),
    setLocale: (next: Locale) => {
      setLocaleState(next);
      rememberLocale(localStorage, next);
      setClientLocale(next);
      if (me) {
        // Kept on the user, so the choice follows them to every browser.
        void api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: me.user.id } }, body: { locale: next } });
      }
    },
    me,
    setMe,
    signedIn: async (accessToken: string, expiresIn: number) => {
      setAccess(accessToken, expiresIn);
      await loadMe();
    },
    logout: async () => {
      await endSession();
      setMe(null);
    },
  }), [locale, me, loadMe]);

  const antdLocale = locale === "en" ? enUS : zhCN;
  const fallback = <div className="page-loading"><Spin /></div>;
  return (
    <ConfigProvider locale={antdLocale} csp={{ nonce }} button={{ autoInsertSpace: false }} theme={{ token: { colorPrimary: "#1677ff" } }}>
      <AntApp>
        <AppContext.Provider value={state}>
          {booting ? fallback : (
            <Suspense fallback={fallback}>
              <Routes>
                <Route path="/login" element={me ? <Navigate to="/" replace /> : <Login />} />
                <Route path="/signup" element={<Signup />} />
                <Route path="/reset-password" element={<ResetPassword />} />
                <Route path="/invitation" element={<AcceptInvitation />} />
                <Route path="/suspended" element={<Suspended />} />
                <Route element={<RequireSession me={me}><AppLayout /></RequireSession>}>
                  <Route index element={<Home />} />
                  <Route path="customers" element={<CustomerList />} />
                  <Route path="customers/new" element={<CustomerForm />} />
                  <Route path="customers/:id/edit" element={<CustomerForm />} />
                  <Route path="customers/:id" element={<Customer360 />} />
                  <Route path="objections" element={<Objections />} />
                  <Route path="tasks" element={<Tasks />} />
                  <Route path="pipeline" element={<Pipeline />} />
                  <Route path="pool" element={<Pool />} />
                  <Route path="notifications" element={<Notifications />} />
                  <Route path="approvals" element={<Approvals />} />
                  <Route path="imports" element={<Imports />} />
                  <Route path="admin/:tab?" element={<Admin />} />
                  <Route path="workflows/:id" element={<WorkflowEditor />} />
                </Route>
                <Route path="*" element={<Navigate to="/" replace />} />
              </Routes>
            </Suspense>
          )}
        </AppContext.Provider>
      </AntApp>
    </ConfigProvider>
  );
}
