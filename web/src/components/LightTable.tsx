import { Empty, Spin } from "antd";
import { memo, type ReactNode } from "react";

export interface LightColumn<T> {
  key: string;
  title: string;
  render: (row: T) => ReactNode;
  sortOrder?: "ascend" | "descend" | null; // present: the column sorts
  hideBelow?: "md" | "lg" | "xl";
}

interface Props<T> {
  rows: T[] | null;
  columns: LightColumn<T>[];
  rowKey: (row: T) => string;
  rowLabel: (row: T) => string;
  selected: string[];
  onSelect: (keys: string[]) => void;
  onSort: (key: string, order: "ascend" | "descend" | null) => void;
  selectAllLabel: string;
  testId: string;
}

const NEXT: Record<string, "ascend" | "descend" | null> = { ascend: "descend", descend: "ascend", none: "ascend" };

/**
 * A plain HTML table in Ant Design's look, for long lists: 50 rows of antd's Table (rc-table, a
 * checkbox and tags per row, each a CSS-in-JS component) took 0.6–0.9 s to render after their
 * answer; plain cells with native checkboxes render in a fraction of that (web/README.md).
 */
function LightTable<T>({ rows, columns, rowKey, rowLabel, selected, onSelect, onSort, selectAllLabel, testId }: Props<T>) {
  const keys = (rows ?? []).map(rowKey);
  const all = keys.length > 0 && keys.every((k) => selected.includes(k));
  return (
    <div className="light-table-wrap" data-testid={testId}>
      <Spin spinning={rows === null}>
        <table className="light-table">
          <thead>
            <tr>
              <th className="light-check">
                <input type="checkbox" aria-label={selectAllLabel} checked={all} disabled={keys.length === 0}
                  onChange={() => onSelect(all ? [] : keys)} />
              </th>
              {columns.map((col) => (
                <th key={col.key} className={col.hideBelow ? `hide-below-${col.hideBelow}` : undefined}
                  aria-sort={col.sortOrder === "ascend" ? "ascending" : col.sortOrder === "descend" ? "descending" : undefined}>
                  {col.sortOrder !== undefined ? (
                    <button type="button" className="light-sort" onClick={() => onSort(col.key, NEXT[col.sortOrder ?? "none"])}>
                      {col.title}<span className="light-sort-mark" aria-hidden>{col.sortOrder === "ascend" ? "▲" : col.sortOrder === "descend" ? "▼" : "↕"}</span>
                    </button>
                  ) : col.title}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {(rows ?? []).map((row) => {
              const key = rowKey(row);
              const on = selected.includes(key);
              return (
                <tr key={key} className={`ant-table-row${on ? " light-selected" : ""}`} data-row-key={key}>
                  <td className="light-check">
                    <input type="checkbox" aria-label={rowLabel(row)} checked={on}
                      onChange={() => onSelect(on ? selected.filter((k) => k !== key) : [...selected, key])} />
                  </td>
                  {columns.map((col) => (
                    <td key={col.key} className={col.hideBelow ? `hide-below-${col.hideBelow}` : undefined}>{col.render(row)}</td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
        {rows !== null && rows.length === 0 && <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} />}
      </Spin>
    </div>
  );
}

export default memo(LightTable) as typeof LightTable;
