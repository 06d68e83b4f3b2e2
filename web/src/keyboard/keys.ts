// The global key map: which key press means which command, given whether the user is
// typing in a field. Pure, so it is tested without a browser.

export type KeyCommand = "palette" | "help" | "close" | "filter" | "next" | "prev" | "open" | "compare" | "new";

export interface KeyLike {
  key: string;
  ctrlKey?: boolean;
  metaKey?: boolean;
  altKey?: boolean;
  shiftKey?: boolean;
}

/** The keys the help overlay lists (actions add their own). */
export const KEY_HELP: Array<[string, string]> = [
  ["/", "focus the run filter"],
  ["j / k", "next / previous run"],
  ["Enter", "open the selected run"],
  ["c", "toggle compare for the open run"],
  ["n", "new run (the run builder)"],
  ["?", "this help"],
  ["Ctrl-K / ⌘K", "command palette"],
  ["Esc", "close overlays, leave a field"],
];

export function keyCommand(e: KeyLike, typing: boolean): KeyCommand | null {
  if ((e.ctrlKey || e.metaKey) && !e.altKey && e.key.toLowerCase() === "k") return "palette";
  if (e.key === "Escape") return "close";
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return null;
  switch (e.key) {
    case "/":
      return "filter";
    case "?":
      return "help";
    case "j":
      return "next";
    case "k":
      return "prev";
    case "Enter":
      return "open";
    case "c":
      return "compare";
    case "n":
      return "new";
    default:
      return null;
  }
}

/** Whether a key event's target is a place the user types into. */
export function isTyping(target: EventTarget | null): boolean {
  if (!target || typeof (target as HTMLElement).tagName !== "string") return false;
  const el = target as HTMLElement;
  const tag = el.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select") return true;
  if (tag === "input") {
    const type = ((el as HTMLInputElement).type || "text").toLowerCase();
    return !["checkbox", "radio", "button", "submit", "range", "reset"].includes(type);
  }
  return el.isContentEditable === true;
}
