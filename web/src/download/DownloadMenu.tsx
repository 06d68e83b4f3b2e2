// A small download menu: a ⤓ toggle that opens a dense box of choices and links under it.
// Keyboard: the toggle is a button (Tab, Enter/Space); opening focuses the first control
// in the box, Tab walks it, Esc (or a click outside) closes it and gives the toggle back
// its focus.
import { useEffect, useLayoutEffect, useRef, type ReactNode } from "react";
import "./download.css";

export interface DownloadMenuProps {
  open: boolean;
  onOpen: (open: boolean) => void;
  /** The toggle's tooltip. */
  title: string;
  testId: string;
  /** The toggle's text (⤓ by default). */
  label?: ReactNode;
  children: ReactNode;
}

export function DownloadMenu({ open, onOpen, title, testId, label, children }: DownloadMenuProps) {
  const root = useRef<HTMLSpanElement>(null);
  const toggle = useRef<HTMLButtonElement>(null);
  const box = useRef<HTMLDivElement>(null);

  // fixed, under the toggle and inside the window: the bars it sits in clip what overflows
  useLayoutEffect(() => {
    const b = box.current;
    const t = toggle.current;
    if (!open || !b || !t) return;
    const r = t.getBoundingClientRect();
    const w = b.offsetWidth;
    const h = b.offsetHeight;
    const below = r.bottom + 2 + h <= window.innerHeight || r.top < h;
    b.style.left = `${Math.max(2, Math.min(r.left, window.innerWidth - w - 2))}px`;
    b.style.top = `${below ? r.bottom + 2 : r.top - h - 2}px`;
  });

  useEffect(() => {
    if (!open) return;
    box.current?.querySelector<HTMLElement>("button, a[href], input, select")?.focus();
    const onDown = (e: PointerEvent) => {
      if (!root.current?.contains(e.target as Node)) onOpen(false);
    };
    document.addEventListener("pointerdown", onDown);
    return () => document.removeEventListener("pointerdown", onDown);
  }, [open, onOpen]);

  return (
    <span className="td-dl" ref={root}>
      <button
        type="button"
        ref={toggle}
        className={open ? "on" : ""}
        data-testid={`${testId}-toggle`}
        aria-haspopup="true"
        aria-expanded={open}
        title={title}
        onClick={() => onOpen(!open)}
      >
        {label ?? "⤓"}
      </button>
      {open ? (
        <div
          className="td-dl-box"
          role="group"
          aria-label={title}
          data-testid={`${testId}-menu`}
          ref={box}
          onKeyDown={(e) => {
            if (e.key !== "Escape") return;
            e.preventDefault();
            e.stopPropagation();
            onOpen(false);
            toggle.current?.focus();
          }}
        >
          {children}
        </div>
      ) : null}
    </span>
  );
}

/** A row of toggle buttons, one on (e.g. the format). */
export function Choice<T extends string>({
  value,
  options,
  onChange,
  name,
}: {
  value: T;
  options: ReadonlyArray<{ id: T; label: string; title?: string; disabled?: boolean }>;
  onChange: (v: T) => void;
  name: string;
}) {
  return (
    <span className="td-dl-choice" role="radiogroup" aria-label={name}>
      {options.map((o) => (
        <button
          key={o.id}
          type="button"
          role="radio"
          aria-checked={o.id === value}
          className={o.id === value ? "on" : ""}
          data-choice={o.id}
          disabled={o.disabled}
          title={o.title ?? o.label}
          onClick={() => onChange(o.id)}
        >
          {o.label}
        </button>
      ))}
    </span>
  );
}
