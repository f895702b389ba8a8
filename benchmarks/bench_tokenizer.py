"""Tokenizer speed and fidelity: the current tokenizer (scispaCy rules + vdmine fixes) against
spaCy's English rules, with and without vdmine's extra affixes, on 3,000 real corpus abstracts.

    .venv/bin/python benchmarks/bench_tokenizer.py

"first pass" tokenizes unseen text; "warm cache" re-tokenizes the same texts (spaCy caches the
tokens of each whitespace-separated chunk). Also prints how many docs each alternative tokenizes
exactly as the current tokenizer does, and the issue-3 examples.
"""

import re
import sys
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import spacy  # noqa: E402
from bench_extract import corpus_records
from vdmine.config import shared_dir
from vdmine.nlp.tokenizer import make_tokenizer, _extra_prefixes, _extra_suffixes, _extra_infixes
texts = [r.text for r in corpus_records(shared_dir())][:3000]
nlp = spacy.blank("en")
sci = make_tokenizer(nlp)
en = spacy.blank("en").tokenizer
# spaCy English rules + vdmine's extra affixes
en2 = spacy.blank("en").tokenizer
en2.prefix_search = re.compile("|".join(["^" + p for p in _extra_prefixes()] + [en2.prefix_search.__self__.pattern])).search
en2.suffix_search = re.compile("|".join([s + "$" for s in _extra_suffixes()] + [en2.suffix_search.__self__.pattern])).search
en2.infix_finditer = re.compile("|".join(_extra_infixes() + [en2.infix_finditer.__self__.pattern])).finditer
def run(tok, label):
    t = time.process_time(); docs = [tok(x) for x in texts]; dt = time.process_time() - t
    t = time.process_time(); [tok(x) for x in texts]; dt2 = time.process_time() - t
    print(f"{label}: first pass {len(texts)/dt:,.0f} docs/s, warm cache {len(texts)/dt2:,.0f} docs/s")
    return [[t.text for t in d] for d in docs]
ref = run(sci, "scispaCy + vdmine fixes (current)")
for tok, label in ((en, "spaCy English"), (en2, "spaCy English + vdmine affixes")):
    out = run(tok, label)
    same = sum(a == b for a, b in zip(ref, out))
    print(f"  docs tokenized identically to current: {same}/{len(texts)}")
    for s in ["Serum 25(OH)D was 20 ng/mL.", "BMI≥30 and p<0.05", "50,000IU weekly", "1,25(OH)2D3 levels"]:
        print("   ", s, "->", [t.text for t in tok(s)], "| current", [t.text for t in sci(s)])
