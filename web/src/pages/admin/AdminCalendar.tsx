import { Alert, Button, Card, Checkbox, Collapse, Form, Input, Select, Tag, message } from "antd";
import { useCallback, useEffect, useMemo, useState } from "react";

import { api, type Schemas } from "../../api/client";
import { useApp } from "../../AppContext";
import { showProblem } from "../../components/forms";
import { WEEKDAYS, formatSpans, parseSpans } from "../../lib/calendar";

type Calendar = Schemas["CalendarOut"];
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const COMMON_ZONES = ["Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Europe/London",
  "Europe/Berlin", "America/New_York", "America/Los_Angeles", "UTC"];

function timeZones(): string[] {
  // Every IANA zone the browser knows (Chromium, Firefox, Safari 15.4+); the common ones otherwise.
  const all = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.("timeZone");
  return all?.length ? all : COMMON_ZONES;
}

interface Values {
  time_zone: string;
  working_hours: Record<string, string>;
  china_holidays: boolean;
  closed_days: string[];
  extra_working_days: string[];
  digest_at: string;
}

/** 工作日历: the hours business time (SLA, "due in N business hours") is counted in. */
export function CalendarTab() {
  const { t } = useApp();
  const [calendar, setCalendar] = useState<Calendar | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [form] = Form.useForm<Values>();
  const zones = useMemo(() => timeZones().map((z) => ({ value: z, label: z })), []);

  const fill = useCallback((data: Calendar) => {
    setCalendar(data);
    form.setFieldsValue({
      time_zone: data.time_zone, china_holidays: data.china_holidays, digest_at: data.digest_at,
      closed_days: data.closed_days, extra_working_days: data.extra_working_days,
      working_hours: Object.fromEntries(WEEKDAYS.map((d) => [d, formatSpans(data.working_hours[d] ?? [])])),
    });
  }, [form]);
  const load = useCallback(async () => {
    const { data } = await api.GET("/api/v1/business-calendar");
    if (data) fill(data);
  }, [fill]);
  useEffect(() => { void load(); }, [load]);

  const save = async (values: Values) => {
    const parsed = Object.fromEntries(WEEKDAYS.map((d) => [d, parseSpans(values.working_hours?.[d] ?? "")]));
    const bad = WEEKDAYS.filter((d) => parsed[d] === null);
    const badDates = (name: "closed_days" | "extra_working_days") => (values[name] ?? []).filter((d) => !DATE.test(d));
    form.setFields([
      ...bad.map((d) => ({ name: ["working_hours", d] as ["working_hours", string], errors: [t("calendar.spanFormat")] })),
      ...(["closed_days", "extra_working_days"] as const).filter((n) => badDates(n).length)
        .map((n) => ({ name: n, errors: [`${t("calendar.dateFormat")}: ${badDates(n).join(", ")}`] })),
    ]);
    if (bad.length || badDates("closed_days").length || badDates("extra_working_days").length) return;
    const { data, error: problem } = await api.PUT("/api/v1/business-calendar", {
      headers: { "If-Match": `"${calendar?.version ?? 0}"` },
      body: { time_zone: values.time_zone, china_holidays: values.china_holidays, digest_at: values.digest_at,
        closed_days: values.closed_days ?? [], extra_working_days: values.extra_working_days ?? [],
        working_hours: parsed as Schemas["WorkingHours"] } });
    if (problem) {
      setError(showProblem(form, problem, ["time_zone", "china_holidays", "digest_at", "closed_days", "extra_working_days",
        ...WEEKDAYS.map((d) => `working_hours.${d}`)]));
      return;
    }
    setError(null);
    void message.success(t("rules.saved"));
    fill(data);
  };
  return (
    <Card size="small" loading={calendar === null} data-testid="business-calendar">
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Form form={form} layout="horizontal" labelCol={{ span: 6 }} wrapperCol={{ span: 12 }} onFinish={save}>
        <Form.Item name="time_zone" label={t("calendar.timeZone")}>
          <Select showSearch options={zones} aria-label={t("calendar.timeZone")} />
        </Form.Item>
        {WEEKDAYS.map((d) => (
          <Form.Item key={d} name={["working_hours", d]} label={`${t("calendar.hours")} · ${t(`calendar.day.${d}`)}`}>
            <Input placeholder={t("calendar.closed")} aria-label={`${t("calendar.hours")} ${t(`calendar.day.${d}`)}`} />
          </Form.Item>
        ))}
        <Form.Item name="china_holidays" valuePropName="checked" wrapperCol={{ offset: 6 }}>
          <Checkbox>{t("calendar.chinaHolidays")}</Checkbox>
        </Form.Item>
        <Form.Item name="closed_days" label={t("calendar.closedDays")} extra={t("calendar.dateHint")}>
          <Select mode="tags" tokenSeparators={[",", "，", " "]} aria-label={t("calendar.closedDays")}
            placeholder="2026-12-31" />
        </Form.Item>
        <Form.Item name="extra_working_days" label={t("calendar.extraDays")}>
          <Select mode="tags" tokenSeparators={[",", "，", " "]} aria-label={t("calendar.extraDays")}
            placeholder="2027-02-20" />
        </Form.Item>
        <Form.Item name="digest_at" label={t("calendar.digestAt")}>
          <Input style={{ width: 120 }} placeholder="08:30" aria-label={t("calendar.digestAt")} />
        </Form.Item>
        <Form.Item wrapperCol={{ offset: 6 }}>
          <Button type="primary" htmlType="submit" data-testid="save-calendar">{t("rules.save")}</Button>
        </Form.Item>
      </Form>
      {calendar && (
        <Collapse size="small" items={[{ key: "china", label: t("calendar.china"), children: calendar.china.map((y) => (
          <div key={y.year} style={{ marginBottom: 8 }}>
            <strong>{y.year}</strong>{" "}
            {y.days_off.map((d) => <Tag key={d}>{d}</Tag>)}
            {y.make_up_working_days.map((d) => <Tag key={d} color="orange">{d}</Tag>)}
          </div>
        )) }]} />
      )}
    </Card>
  );
}
