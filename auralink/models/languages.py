"""The languages Whisper knows: ISO-639-1 codes (``yue``, ``haw`` are 3-letter) and their names.

OpenAI's speech endpoints take ``language`` as a code and report it in ``verbose_json`` by its
lowercase English name (``"spanish"``); :func:`language_code` accepts either, and a region
suffix (``es-ES``), and gives the code Whisper expects, or None for a language it does not know.
"""

from __future__ import annotations

__all__ = ["WHISPER_LANGUAGES", "language_code", "language_name"]

_TABLE = (
    "en english|zh chinese|de german|es spanish|ru russian|ko korean|fr french|ja japanese|"
    "pt portuguese|tr turkish|pl polish|ca catalan|nl dutch|ar arabic|sv swedish|it italian|"
    "id indonesian|hi hindi|fi finnish|vi vietnamese|he hebrew|uk ukrainian|el greek|ms malay|"
    "cs czech|ro romanian|da danish|hu hungarian|ta tamil|no norwegian|th thai|ur urdu|"
    "hr croatian|bg bulgarian|lt lithuanian|la latin|mi maori|ml malayalam|cy welsh|sk slovak|"
    "te telugu|fa persian|lv latvian|bn bengali|sr serbian|az azerbaijani|sl slovenian|"
    "kn kannada|et estonian|mk macedonian|br breton|eu basque|is icelandic|hy armenian|"
    "ne nepali|mn mongolian|bs bosnian|kk kazakh|sq albanian|sw swahili|gl galician|"
    "mr marathi|pa punjabi|si sinhala|km khmer|sn shona|yo yoruba|so somali|af afrikaans|"
    "oc occitan|ka georgian|be belarusian|tg tajik|sd sindhi|gu gujarati|am amharic|"
    "yi yiddish|lo lao|uz uzbek|fo faroese|ht haitian creole|ps pashto|tk turkmen|nn nynorsk|"
    "mt maltese|sa sanskrit|lb luxembourgish|my myanmar|bo tibetan|tl tagalog|mg malagasy|"
    "as assamese|tt tatar|haw hawaiian|ln lingala|ha hausa|ba bashkir|jw javanese|su sundanese|"
    "yue cantonese"
)

# code -> lowercase English name, in Whisper's own order
WHISPER_LANGUAGES: dict[str, str] = dict(
    (entry.split(" ", 1)[0], entry.split(" ", 1)[1]) for entry in _TABLE.split("|")
)


def language_code(language: str) -> str | None:
    """Whisper's code for ``language`` (a code, ``xx-YY`` tag or English name); None if unknown."""
    wanted = language.strip().lower().replace("_", "-")
    if wanted in WHISPER_LANGUAGES:
        return wanted
    base = wanted.split("-")[0]
    if base in WHISPER_LANGUAGES:
        return base
    for code, name in WHISPER_LANGUAGES.items():
        if wanted == name:
            return code
    return None


def language_name(code: str) -> str:
    """The lowercase English name of a Whisper language code (the code itself if unknown)."""
    return WHISPER_LANGUAGES.get(code, code)
