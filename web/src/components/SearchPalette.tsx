import { Empty, Input, Modal, Spin } from "antd";
import { useEffect, useRef, useState } from "react";
import { useNavigate } from "react-router-dom";

import { api } from "../api/client";
import { useApp } from "../AppContext";
import type { MessageKey } from "../i18n/messages";
import { groupHits, hitLink, snippetParts, type SearchHit } from "../lib/search";

const DEBOUNCE_MS = 120;

function Snippet({ text }: { text: string }) {
  return <>{snippetParts(text).map((p, i) => (p.match ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}</>;
}

async function search(q: string, signal: AbortSignal): Promise<SearchHit[]> {
  const { data } = await api.GET("/api/v1/search", { params: { query: { q, limit: 20 } }, signal });
  return data?.hits ?? [];
}

export default function SearchPalette({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useApp();
  const navigate = useNavigate();
  const [q, setQ] = useState("");
  const [hits, setHits] = useState<SearchHit[] | null>(null);
  const [loading, setLoading] = useState(false);
  const [active, setActive] = useState(0);
  const seq = useRef(0);

  useEffect(() => {
    if (!open) { setQ(""); setHits(null); setActive(0); }
  }, [open]);

  useEffect(() => {
    const query = q.trim();
    if (!query) { setHits(null); return; }
    const controller = new AbortController();
    const mine = ++seq.current;
    const timer = setTimeout(async () => {
      setLoading(true);
      try {
        const found = await search(query, controller.signal);
        if (mine === seq.current) { setHits(found); setActive(0); }
      } catch {
        // aborted by the next keystroke
      } finally {
        if (mine === seq.current) setLoading(false);
      }
    }, DEBOUNCE_MS);
    return () => { clearTimeout(timer); controller.abort(); };
  }, [q]);

  const groups = groupHits(hits ?? []);
  const flat = groups.flatMap((g) => g.hits);
  const go = (hit: SearchHit | undefined) => {
    const link = hit && hitLink(hit);
    if (link) { onClose(); navigate(link); }
  };
  let index = -1;
  return (
    <Modal open={open} onCancel={onClose} footer={null} closable={false} destroyOnClose width={640}
      styles={{ body: { minHeight: 120 } }} title={null}>
      <Input autoFocus size="large" value={q} onChange={(e) => setQ(e.target.value)} placeholder={t("search.placeholder")}
        aria-label={t("nav.search")} data-testid="search-input" suffix={loading ? <Spin size="small" /> : null}
        onKeyDown={(e) => {
          if (e.key === "ArrowDown") { e.preventDefault(); setActive((a) => Math.min(a + 1, flat.length - 1)); }
          if (e.key === "ArrowUp") { e.preventDefault(); setActive((a) => Math.max(a - 1, 0)); }
          if (e.key === "Enter") go(flat[active]);
        }} />
      <div role="listbox" aria-label={t("nav.search")} data-testid="search-results">
        {hits && hits.length === 0 && <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t("search.empty")} />}
        {groups.map((group) => (
          <div key={group.type} className="search-group" data-testid={`search-group-${group.type}`}>
            <div className="search-group-title">{t(`type.${group.type}` as MessageKey) ?? group.type}</div>
            {group.hits.map((hit) => {
              index += 1;
              const mine = index;
              const snippet = Object.values(hit.highlight)[0];
              return (
                <a key={`${hit.type}-${hit.id}`} role="option" aria-selected={mine === active} href={hitLink(hit) ?? "#"}
                  className={`search-hit${mine === active ? " active" : ""}`}
                  onClick={(e) => { e.preventDefault(); go(hit); }}>
                  <div>{hit.title || hit.customer?.title}</div>
                  {snippet && <div style={{ fontSize: 12, color: "rgba(0,0,0,.45)" }}><Snippet text={snippet} /></div>}
                </a>
              );
            })}
          </div>
        ))}
      </div>
    </Modal>
  );
}
