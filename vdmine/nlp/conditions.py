"""The ``vdmine_conditions`` component: condition (disease) mentions normalised to MeSH.

One PhraseMatcher (attr LOWER) holds every term of the curated lexicon and of the configured
vocabularies; a second one (attr ORTH) holds curated abbreviations, which are case-sensitive.
Per document:

1. dictionary matches; an identical span found by several sources keeps the best source
   (lexicon > gazetteer > medic > mesh);
2. abbreviations the abstract defines itself ("knee osteoarthritis (KOA)", scispaCy's
   AbbreviationDetector) resolve to the long form's concept everywhere in the abstract
   (source 'abbreviation'); a curated abbreviation the abstract defines as something else
   ("MS" = mass spectrometry) is dropped;
3. a body site and clinical qualifiers before a condition ("knee radiographic OA") give the
   site-specific concept when site + condition is a known term ("knee OA"); qualifiers are data
   (``lexicons/condition_qualifiers.tsv``);
4. overlaps: the longest span wins ("knee osteoarthritis" over "osteoarthritis");
5. when the base pipeline has a statistical NER (e.g. en_ner_bc5cdr_md), its DISEASE entities that
   no rule span overlaps are added (source 'model');
6. each mention gets ``negated`` from :mod:`vdmine.nlp.negation`.

Results: ``doc.spans["conditions"]``; span ``label_`` = canonical name, ``kb_id_`` = MeSH id,
``span._.condition_source`` and ``span._.condition_negated``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span
from spacy.util import normalize_slice

from vdmine.nlp import negation
from vdmine.nlp.docs import doc_text
from vdmine.nlp.vocab import Term, load_lexicon, load_qualifiers, load_vocabulary

SPAN_KEY = "conditions"
MODEL_LABELS = frozenset({"DISEASE"})
SOURCE_RANK = {"abbreviation": 0, "lexicon": 1, "gazetteer": 2, "medic": 3, "mesh": 4, "model": 5}
_MATCH_KEY = "VDMINE_CONDITION"
# Function words that make a long form a phrase *about* a disease rather than the disease itself.
_PREPOSITIONS = frozenset({"of", "for", "in", "on", "to", "by", "from", "against", "after"})
MAX_QUALIFIERS = 3  # qualifier words allowed between a site and its condition
MAX_SITE_TOKENS = 2  # "knee", "lumbar spine"

for _name in ("condition_source", "condition_negated"):
    if not Span.has_extension(_name):
        Span.set_extension(_name, default=None)


def _key(tokens: Iterable) -> str:
    return " ".join(t.lower_ for t in tokens)


class ConditionMatcher:
    """Dictionary + abbreviation + optional-model condition recogniser (see module docstring)."""

    def __init__(self, nlp: Language, name: str = "vdmine_conditions", vocabularies: Iterable[str] = ()):
        self.name = name
        self.tokenizer = nlp.tokenizer
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        self.exact = PhraseMatcher(nlp.vocab, attr="ORTH")
        self.terms: dict[str, Term] = {}  # lower-cased token key -> term
        self.abbrevs: dict[str, Term] = {}  # exact text -> term
        self.blocked: set[str] = set()
        self.qualifiers = load_qualifiers()
        self.add_terms(load_lexicon())
        for path in vocabularies:
            self.add_terms(load_vocabulary(path))

    # --- vocabulary management ----------------------------------------------------------------

    def add_terms(self, terms: Iterable[Term], override: bool = False) -> int:
        """Add terms as patterns. An existing term keeps its concept unless ``override``."""
        by_lower: dict[str, Term] = {}
        exact: dict[str, Term] = {}
        for t in terms:
            if t.case_sensitive:
                exact.setdefault(t.text, t)
            else:
                by_lower.setdefault(t.text.lower(), t)
        added = 0
        patterns = []
        for doc, term in zip(self.tokenizer.pipe(list(by_lower)), by_lower.values()):
            key = _key(doc)
            if not key:
                continue
            if key not in self.terms:
                patterns.append(doc)
                self.terms[key] = term
                added += 1
            elif override:
                self.terms[key] = term
        for i in range(0, len(patterns), 5000):
            self.matcher.add(_MATCH_KEY, patterns[i : i + 5000])
        ex_patterns = []
        for text, term in exact.items():
            if text not in self.abbrevs:
                ex_patterns.append(self.tokenizer(text))
                added += 1
            if text not in self.abbrevs or override:
                self.abbrevs[text] = term
        if ex_patterns:
            self.exact.add(_MATCH_KEY, ex_patterns)
        return added

    def block(self, texts: Iterable[str]) -> None:
        """Never report these strings (case-insensitive), whichever vocabulary holds them."""
        self.blocked.update(_key(d) for d in self.tokenizer.pipe(list(texts)))

    def lookup(self, text: str) -> Term | None:
        """The concept of a surface string, if any vocabulary knows it."""
        key = _key(self.tokenizer(text))
        return None if key in self.blocked else self.terms.get(key)

    # --- per document ---------------------------------------------------------------------------
    # The work below runs on (start, end) token indices; a spaCy Span is made only for the spans
    # that are kept (creating Spans, Tokens and ``span._`` is most of the cost of this component).

    def _rule_matches(self, doc: Doc, toks: "_Tokens") -> dict[tuple[int, int], Term]:
        found: dict[tuple[int, int], Term] = {}
        for _, s, e in self.matcher(doc):
            key = toks.key(s, e)
            if key in self.blocked:
                continue
            term = self.terms.get(key)
            if term is not None:
                found[(s, e)] = term
        return found

    @staticmethod
    def _abbreviation_pairs(doc: Doc) -> list[tuple[int, int, tuple[int, int] | None]]:
        """(short start, short end, (long start, long end) or None) for each short-form occurrence.

        scispaCy stores Spans, or plain dicts when ``make_serializable`` is on (vdmine's default).
        """
        if not Doc.has_extension("abbreviations"):
            return []
        out = []
        for ab in doc._.abbreviations or []:
            if isinstance(ab, dict):
                long = (ab["long_start"], ab["long_end"]) if ab.get("long_end") is not None else None
                out.append((ab["short_start"], ab["short_end"], long))
            else:
                lf = ab._.long_form
                out.append((ab.start, ab.end, (lf.start, lf.end) if isinstance(lf, Span) else None))
        return out

    def _abbreviations(self, doc: Doc, toks: "_Tokens", found: dict[tuple[int, int], Term]) -> tuple[dict, set[str]]:
        """Spans of abbreviations defined in this doc -> long form's concept; and all defined short forms."""
        out: dict[tuple[int, int], Term] = {}
        defined: set[str] = set()
        concept_of: dict[str, Term | None] = {}
        for s, e, long in self._abbreviation_pairs(doc):
            text = toks.text(s, e)
            defined.add(text)
            if text not in concept_of:
                concept_of[text] = self._long_form_concept(toks, long, found)
            term = concept_of[text]
            if term is not None:
                out[(s, e)] = Term(text, term.canonical, term.mesh_id, "abbreviation")
        return out, defined

    def _long_form_concept(self, toks: "_Tokens", long: tuple[int, int] | None, found: dict[tuple[int, int], Term]) -> Term | None:
        if long is None:
            return None
        ls, le = _bounds(*long, toks.n)
        key = toks.key(ls, le)
        if key in self.terms and key not in self.blocked:
            return self.terms[key]
        # else the longest rule match inside the long form that ends at its end (the head noun),
        # unless a preposition comes first: "assessment of insulin resistance" is not a disease.
        inside = [
            (e - s, t)
            for (s, e), t in found.items()
            if s >= ls and e == le and not any(toks.lower(i) in _PREPOSITIONS for i in range(ls, s))
        ]
        if inside:
            return max(inside, key=lambda x: x[0])[1]
        return None

    def _site_qualified(self, toks: "_Tokens", found: dict[tuple[int, int], Term]) -> dict[tuple[int, int], Term]:
        """"knee radiographic OA" -> knee osteoarthritis: site + qualifiers + condition, where site +
        condition (surface or canonical name) is a known term of the vocabularies. Only adds candidate
        spans; the longest-span rule then prefers them over the bare condition."""
        out: dict[tuple[int, int], Term] = {}
        for (s, e), term in found.items():
            q = s
            while q > 0 and s - q < MAX_QUALIFIERS and toks.lower(q - 1) in self.qualifiers:
                q -= 1
            if q == s:
                continue
            tails = (toks.key(s, e), " ".join(term.canonical.lower().split()))
            for n in range(MAX_SITE_TOKENS, 0, -1):
                if q - n < 0 or not all(toks.is_alpha(i) for i in range(q - n, q)):
                    continue
                site = toks.key(q - n, q)
                hit = next((self.terms[k] for k in (f"{site} {t}" for t in tails) if k in self.terms and k not in self.blocked), None)
                if hit is not None and hit.canonical != term.canonical:
                    out[(q - n, e)] = Term(toks.text(q - n, e), hit.canonical, hit.mesh_id, hit.source)
                    break
        return out

    def __call__(self, doc: Doc) -> Doc:
        toks = _Tokens(doc)
        found = self._rule_matches(doc, toks)
        abbr, defined = self._abbreviations(doc, toks, found)
        for _, s, e in self.exact(doc):
            text = toks.text(s, e)
            if text in defined or toks.key(s, e) in self.blocked:
                continue  # the abstract defines it itself: that definition wins (or it is not a condition)
            term = self.abbrevs.get(text)
            if term is not None and (s, e) not in found:
                found[(s, e)] = term
        for span_key, term in abbr.items():
            old = found.get(span_key)
            if old is None or SOURCE_RANK[term.source] < SOURCE_RANK[old.source]:
                found[span_key] = term
        found.update(self._site_qualified(toks, found))
        spans = []
        source: dict[int, str] = {}  # id(span) -> source, set below with the negation (one ``span._`` each)
        for s, e in _longest_first(found):  # = spacy.util.filter_spans, on (start, end) pairs
            term = found[(s, e)]
            sp = Span(doc, s, e, label=term.canonical, kb_id=term.mesh_id or "")
            source[id(sp)] = term.source
            spans.append(sp)
        spans += self._model_spans(doc, spans)  # these carry their source already
        spans.sort(key=lambda sp: sp.start)
        for sp in spans:
            ext = sp._
            if id(sp) in source:
                ext.condition_source = source[id(sp)]
            ext.condition_negated = negation.is_negated(sp)
        doc.spans[SPAN_KEY] = spans
        return doc

    def _model_spans(self, doc: Doc, rule_spans: list[Span]) -> list[Span]:
        """DISEASE entities of a statistical base model that no rule span overlaps."""
        ents = [e for e in doc.ents if e.label_ in MODEL_LABELS]
        if not ents:
            return []
        taken = set()
        for sp in rule_spans:
            taken.update(range(sp.start, sp.end))
        out = []
        for ent in ents:
            if taken.intersection(range(ent.start, ent.end)):
                continue
            term = self.lookup(ent.text)
            canonical = term.canonical if term else ent.text.lower()
            sp = Span(doc, ent.start, ent.end, label=canonical, kb_id=(term.mesh_id if term and term.mesh_id else ""))
            sp._.condition_source = "model"
            out.append(sp)
        return out


def _bounds(s: int, e: int, n: int) -> tuple[int, int]:
    """The token range ``doc[s:e]`` covers (spaCy clips and orders slice bounds)."""
    if 0 <= s <= e <= n:
        return s, e  # what normalize_slice returns for these, without the call
    return normalize_slice(n, s, e)


def _longest_first(found: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """``spacy.util.filter_spans`` on (start, end) pairs: the (first) longest span wins an overlap;
    the kept pairs in start order."""
    result = []
    seen: set[int] = set()
    for s, e in sorted(found, key=lambda k: (k[1] - k[0], -k[0]), reverse=True):
        if s not in seen and e - 1 not in seen:
            result.append((s, e))
            seen.update(range(s, e))
    result.sort(key=lambda k: k[0])
    return result


class _Tokens:
    """Keys and texts of token ranges without building a Span and its Tokens for each:
    ``key(s, e)`` equals ``_key(doc[s:e])`` and ``text(s, e)`` equals ``doc[s:e].text``."""

    __slots__ = ("doc", "n", "_text")

    def __init__(self, doc: Doc):
        self.doc = doc
        self.n = len(doc)
        self._text = doc_text(doc)

    def lower(self, i: int) -> str:
        return self.doc[i].lower_

    def key(self, s: int, e: int) -> str:
        doc = self.doc
        return " ".join([doc[i].lower_ for i in range(*_bounds(s, e, self.n))])

    def is_alpha(self, i: int) -> bool:
        return self.doc[i].is_alpha

    def text(self, s: int, e: int) -> str:
        s, e = _bounds(s, e, self.n)
        if e == s:
            return ""
        sp = Span(self.doc, s, e)  # its character offsets; Span.text would re-join the tokens
        return self._text[sp.start_char: sp.end_char]


@Language.factory("vdmine_conditions", default_config={"vocabularies": []})
def make_conditions(nlp: Language, name: str, vocabularies: list[str]) -> ConditionMatcher:
    return ConditionMatcher(nlp, name, vocabularies)


def sentence_index(doc: Doc) -> list[int]:
    """Start token of every sentence (for sent_idx by bisection), as ``[s.start for s in doc.sents]``
    gives them, read from the ``sent_start`` array instead of building a Span per sentence."""
    if doc.has_annotation("SENT_START"):
        if "sents" in doc.user_hooks:
            return [s.start for s in doc.sents]
        flags = doc.to_array(SENT_START)
        if not len(flags):
            return []
        flags[0] = 1  # the first sentence starts at 0 whatever its flag
        return (flags == 1).nonzero()[0].tolist()
    return [0]


def rows(doc: Doc, pmid: str, **kwargs) -> list[dict]:
    """Rows of the ``conditions`` table for one Doc."""
    spans = doc.spans.get(SPAN_KEY, [])
    if not spans:
        return []
    starts = sentence_index(doc)
    text = doc_text(doc)
    out = []
    for sp in spans:
        start, end = sp.start_char, sp.end_char
        ext = sp._
        out.append(
            {
                "pmid": pmid,
                "sent_idx": bisect_right(starts, sp.start) - 1,
                "start_char": start,
                "end_char": end,
                "text": text[start:end],  # = sp.text
                "canonical": sp.label_,
                "mesh_id": sp.kb_id_ or None,
                "negated": bool(ext.condition_negated),
                "source": ext.condition_source,
            }
        )
    return out
