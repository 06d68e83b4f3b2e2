import { describe, expect, it } from "vitest";
import { isTyping, keyCommand } from "./keys";

describe("key map", () => {
  it("maps plain keys when not typing", () => {
    expect(keyCommand({ key: "/" }, false)).toBe("filter");
    expect(keyCommand({ key: "j" }, false)).toBe("next");
    expect(keyCommand({ key: "k" }, false)).toBe("prev");
    expect(keyCommand({ key: "Enter" }, false)).toBe("open");
    expect(keyCommand({ key: "c" }, false)).toBe("compare");
    expect(keyCommand({ key: "n" }, false)).toBe("new");
    expect(keyCommand({ key: "?", shiftKey: true }, false)).toBe("help");
    expect(keyCommand({ key: "x" }, false)).toBeNull();
  });

  it("ignores plain keys while typing but keeps Ctrl-K, Cmd-K and Esc", () => {
    expect(keyCommand({ key: "j" }, true)).toBeNull();
    expect(keyCommand({ key: "/" }, true)).toBeNull();
    expect(keyCommand({ key: "k", ctrlKey: true }, true)).toBe("palette");
    expect(keyCommand({ key: "K", metaKey: true }, false)).toBe("palette");
    expect(keyCommand({ key: "Escape" }, true)).toBe("close");
    expect(keyCommand({ key: "c", ctrlKey: true }, false)).toBeNull();
  });

  it("knows what typing is", () => {
    expect(isTyping(null)).toBe(false);
    expect(isTyping({ tagName: "INPUT", type: "text" } as unknown as EventTarget)).toBe(true);
    expect(isTyping({ tagName: "INPUT", type: "checkbox" } as unknown as EventTarget)).toBe(false);
    expect(isTyping({ tagName: "TEXTAREA" } as unknown as EventTarget)).toBe(true);
    expect(isTyping({ tagName: "DIV", isContentEditable: false } as unknown as EventTarget)).toBe(false);
  });
});
