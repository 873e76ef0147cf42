// Live captions: one line per transcription segment, updated as its text stream arrives.

export type Speaker = "user" | "agent";

export interface CaptionLine {
  setText(text: string): void;
  setFinal(final: boolean): void;
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
    };
    this.lines.set(segmentId, line);
    this.scrollToEnd();
    return line;
  }

  clear(): void {
    this.lines.clear();
    const placeholder = document.createElement("p");
    placeholder.className = "placeholder";
    placeholder.textContent = "Captions of what you and the agent say appear here.";
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
