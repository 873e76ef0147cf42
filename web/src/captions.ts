// Live captions: one line per transcription segment, updated as its text stream arrives.

/** Who said a line: you, the agent, or (in a meeting) another person in the room. */
export type Speaker = "user" | "agent" | "participant";

export interface CaptionLine {
  setText(text: string): void;
  setFinal(final: boolean): void;
  /** The language the text is shown in (`lang` for screen readers) and whether it is a translation. */
  setLanguage(language: string | null, translated: boolean): void;
  readonly final: boolean;
}

export class CaptionBoard {
  private readonly lines = new Map<string, CaptionLine>();

  constructor(private readonly container: HTMLElement) {}

  /** The line of `segmentId`, created at the bottom on first use. */
  line(segmentId: string, speaker: Speaker, label: string): CaptionLine {
    const existing = this.lines.get(segmentId);
    if (existing) return existing;

    this.container.querySelector(".placeholder")?.remove();
    const row = document.createElement("p");
    row.className = "caption interim";
    row.dataset.testid = "caption";
    row.dataset.speaker = speaker;
    row.dataset.final = "false";
    row.dataset.segment = segmentId;
    const who = document.createElement("span");
    who.className = "speaker";
    who.textContent = label;
    who.title = label; // the whole name when a long one is cut short
    const text = document.createElement("span");
    text.className = "text";
    row.append(who, text);
    this.container.append(row);

    const board = this;
    const line: CaptionLine = {
      get final() {
        return row.dataset.final === "true";
      },
      setText(value: string) {
        const pinned = board.atBottom();
        text.textContent = value;
        if (pinned) board.scrollToEnd();
      },
      setFinal(final: boolean) {
        row.dataset.final = String(final);
        row.classList.toggle("interim", !final);
        row.classList.toggle("final", final);
      },
      setLanguage(language: string | null, translated: boolean) {
        if (language) {
          text.lang = language;
          row.dataset.language = language;
        } else {
          text.removeAttribute("lang");
          delete row.dataset.language;
        }
        row.dataset.translated = String(translated);
      },
    };
    this.lines.set(segmentId, line);
    this.scrollToEnd();
    return line;
  }

  clear(placeholderText = "Captions of what you and the agent say appear here."): void {
    this.lines.clear();
    const placeholder = document.createElement("p");
    placeholder.className = "placeholder";
    placeholder.textContent = placeholderText;
    this.container.replaceChildren(placeholder);
  }

  private atBottom(): boolean {
    const c = this.container;
    return c.scrollHeight - c.scrollTop - c.clientHeight < 40;
  }

  private scrollToEnd(): void {
    this.container.scrollTop = this.container.scrollHeight;
  }
}
