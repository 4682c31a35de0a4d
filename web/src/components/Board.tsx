import { MoreOutlined } from "@ant-design/icons";
import { Badge, Button, Card, Dropdown, Empty, Typography } from "antd";
import { useState, type ReactNode } from "react";

export interface BoardColumn { key: string; title: string; extra?: ReactNode }

interface Props<T> {
  columns: BoardColumn[];
  items: T[];
  columnOf: (item: T) => string;
  idOf: (item: T) => string;
  render: (item: T) => ReactNode;
  onMove: (item: T, to: string) => void;
  moveLabel: string;
  emptyText: string;
  testId: string;
}

/** A kanban board: drag a card to another column, or (keyboard, touch) pick the column from the
 * card's "move to" menu. Whether the move is allowed is the API's call: `onMove` asks it. */
export default function Board<T>({ columns, items, columnOf, idOf, render, onMove, moveLabel, emptyText, testId }: Props<T>) {
  const [over, setOver] = useState<string | null>(null);
  const [dragged, setDragged] = useState<string | null>(null);
  const byId = new Map(items.map((item) => [idOf(item), item]));
  return (
    <div className="board" data-testid={testId}>
      {columns.map((col) => {
        const cards = items.filter((item) => columnOf(item) === col.key);
        return (
          <section key={col.key} className={`board-column${over === col.key ? " board-over" : ""}`}
            data-testid={`column-${col.key}`} aria-label={col.title}
            onDragOver={(e) => { e.preventDefault(); setOver(col.key); }}
            onDragLeave={() => setOver((cur) => (cur === col.key ? null : cur))}
            onDrop={(e) => {
              e.preventDefault();
              setOver(null);
              const item = byId.get(e.dataTransfer.getData("text/plain") || dragged || "");
              setDragged(null);
              if (item && columnOf(item) !== col.key) onMove(item, col.key);
            }}>
            <header className="board-column-head">
              <Typography.Text strong>{col.title}</Typography.Text> <Badge count={cards.length} showZero color="#8c8c8c" />
              {col.extra && <div className="board-column-extra">{col.extra}</div>}
            </header>
            {cards.length === 0 && <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={emptyText} />}
            {cards.map((item) => {
              const id = idOf(item);
              return (
                <Card key={id} size="small" className="board-card" draggable data-testid={`card-${id}`}
                  onDragStart={(e) => { e.dataTransfer.setData("text/plain", id); e.dataTransfer.effectAllowed = "move"; setDragged(id); }}
                  onDragEnd={() => { setDragged(null); setOver(null); }}
                  extra={
                    <Dropdown trigger={["click"]} menu={{
                      items: columns.filter((c) => c.key !== columnOf(item)).map((c) => ({ key: c.key, label: c.title })),
                      onClick: ({ key }) => onMove(item, key),
                    }}>
                      <Button size="small" type="text" icon={<MoreOutlined />} aria-label={moveLabel} data-testid="move-menu" />
                    </Dropdown>
                  }>
                  {render(item)}
                </Card>
              );
            })}
          </section>
        );
      })}
    </div>
  );
}
