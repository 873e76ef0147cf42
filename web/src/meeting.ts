// Meeting captions: every speaker's lines under their own name, each shown in the listener's
// language. The note-taker's transcriber sends each person's words on `lk.transcription` on their
// behalf (`auralink.speaker`, `auralink.speaker_name`, one `lk.segment_id` per utterance: interim
// streams, then a final one). A listener who sets the participant attribute `auralink.language`
// also gets, after each final line, its translation as a stream of its own carrying
// `auralink.language` and `auralink.translation_of` (the original's segment id).

import { CaptionBoard, type CaptionLine, type Speaker } from "./captions";

export const LANGUAGE_ATTRIBUTE = "auralink.language";
export const ATTR_TRANSLATION_OF = "auralink.translation_of";
export const ATTR_SPEAKER = "auralink.speaker";
export const ATTR_SPEAKER_NAME = "auralink.speaker_name";

/** English, and the languages the offline translator (Debian's apertium pairs) reaches from it. */
export const CAPTION_LANGUAGES: ReadonlyArray<{ code: string; label: string }> = [
  { code: "en", label: "English" },
  { code: "es", label: "Español (Spanish)" },
  { code: "ca", label: "Català (Catalan)" },
  { code: "gl", label: "Galego (Galician)" },
  { code: "eo", label: "Esperanto" },
  { code: "pt", label: "Português (Portuguese)" },
  { code: "fr", label: "Français (French)" },
];

export const DEFAULT_LANGUAGE = "en";

/** The language a participant speaks, when it is not their caption language (the multilingual
 * Whisper transcribes it; the agent's translator or Whisper's speech translation takes it on). */
export const SPOKEN_LANGUAGE_ATTRIBUTE = "auralink.spoken_language";

/** What a participant may say they speak: the caption languages and more that Whisper knows. */
export const SPOKEN_LANGUAGES: ReadonlyArray<{ code: string; label: string }> = [
  ...CAPTION_LANGUAGES,
  { code: "it", label: "Italiano (Italian)" },
  { code: "de", label: "Deutsch (German)" },
  { code: "nl", label: "Nederlands (Dutch)" },
  { code: "pl", label: "Polski (Polish)" },
  { code: "uk", label: "Українська (Ukrainian)" },
  { code: "ru", label: "Русский (Russian)" },
  { code: "ar", label: "العربية (Arabic)" },
  { code: "hi", label: "हिन्दी (Hindi)" },
  { code: "zh", label: "中文 (Chinese)" },
  { code: "ja", label: "日本語 (Japanese)" },
];

/** What a caption stream is: an original line (its segment) or a translation of one. */
export interface MeetingCaption {
  segmentId: string;
  speaker: Speaker;
  label: string;
  text: string;
  final: boolean;
  /** the language of the text, when the sender said (`auralink.language`) */
  language: string | null;
  /** the original's segment id when this is a translation */
  translationOf: string | null;
}

interface Segment {
  line: CaptionLine;
  original: string;
  originalLanguage: string | null;
  final: boolean;
  translations: Map<string, string>;
}

/** The primary subtag, lower case: `pt-BR` → `pt`. */
export function primaryLanguage(tag: string): string {
  return (tag.trim().replace("_", "-").split("-")[0] ?? "").toLowerCase();
}

export class MeetingCaptions {
  private readonly segments = new Map<string, Segment>();
  private language = DEFAULT_LANGUAGE;

  constructor(private readonly board: CaptionBoard) {}

  get wanted(): string {
    return this.language;
  }

  /** Show every line in `language` where a translation came, the original otherwise. */
  setLanguage(language: string): void {
    this.language = primaryLanguage(language) || DEFAULT_LANGUAGE;
    for (const segment of this.segments.values()) this.render(segment);
  }

  /** A caption stream's text so far; `false` when it came too late to change its line. */
  show(caption: MeetingCaption): boolean {
    if (caption.translationOf !== null && caption.language !== null) {
      const segment = this.segment(caption.translationOf, caption);
      segment.translations.set(primaryLanguage(caption.language), caption.text);
      this.render(segment);
      return true;
    }
    const segment = this.segment(caption.segmentId, caption);
    if (segment.final && !caption.final) return false; // a late interim never overwrites a final line
    segment.original = caption.text;
    segment.originalLanguage = caption.language;
    segment.final = caption.final;
    this.render(segment);
    return true;
  }

  clear(): void {
    this.segments.clear();
    this.board.clear("Captions of what everyone in the meeting says appear here, under their names.");
  }

  private segment(segmentId: string, caption: MeetingCaption): Segment {
    let segment = this.segments.get(segmentId);
    if (!segment) {
      segment = {
        line: this.board.line(segmentId, caption.speaker, caption.label),
        original: "",
        originalLanguage: null,
        final: false,
        translations: new Map(),
      };
      this.segments.set(segmentId, segment);
    }
    return segment;
  }

  private render(segment: Segment): void {
    const translated = segment.translations.get(this.language);
    const original = segment.originalLanguage ? primaryLanguage(segment.originalLanguage) : null;
    if (translated !== undefined && original !== this.language) {
      segment.line.setText(translated);
      segment.line.setLanguage(this.language, true);
      segment.line.setFinal(true); // translations are made of final lines only
    } else {
      segment.line.setText(segment.original);
      segment.line.setLanguage(segment.originalLanguage, false);
      segment.line.setFinal(segment.final);
    }
  }
}
