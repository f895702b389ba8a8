"""vdmine's tokenizer fixes on real sentences from ../shared/corpus (quoted below)."""

import re
import warnings

import pytest
import spacy

from vdmine.nlp.tokenizer import make_tokenizer

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


@pytest.fixture(scope="module")
def nlp():
    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    return nlp


def toks(nlp, text):
    return [t.text for t in nlp(text)]


def test_unit_sentence_full_stop_is_split(nlp):
    # vitd_pain.jsonl PMID 12549750
    s = "with three patients having serum 25-OH vitamin D levels less than 15ng/mL."
    assert toks(nlp, s)[-3:] == ["15", "ng/mL", "."]
    assert toks(nlp, "levels below 20 ng/mL.")[-2:] == ["ng/mL", "."]
    assert toks(nlp, "was 12.5 nmol/L.")[-2:] == ["nmol/L", "."]


def test_full_stop_after_capital_letter_ends_sentence():
    nlp2 = spacy.blank("en")
    nlp2.tokenizer = make_tokenizer(nlp2)
    nlp2.add_pipe("sentencizer")
    # vitd_pain.jsonl PMID 38246996: "... caused primarily by the decreased intestinal absorption of vitamin D. In the ..."
    doc = nlp2("caused primarily by the decreased intestinal absorption of vitamin D. In the elderly")
    assert [t.text for t in doc][9:11] == ["D", "."]
    assert len(list(doc.sents)) == 2
    # abbreviations in the tokenizer exceptions keep their dot
    assert [t.text for t in nlp2("Smith et al. 2020, e.g. falls")] == ["Smith", "et", "al.", "2020", ",", "e.g.", "falls"]


@pytest.mark.parametrize(
    "text, expected",
    [
        # offtopic.jsonl: "included 199 patients with femoral neck fracture, aged ≥70 years."
        ("aged ≥70 years", ["aged", "≥", "70", "years"]),
        # vitd_pain.jsonl PMID 9552083: "by 10.4% (P <0.001)"
        ("(P <0.001)", ["(", "P", "<", "0.001", ")"]),
        # vitd_other.jsonl PMID 35285906: "wound healing ≤10 d postblistering"
        ("healing ≤10 d", ["healing", "≤", "10", "d"]),
        # vitd_pain.jsonl PMID 27446535: "was −0.4±4.0% for the AC group"
        ("−0.4±4.0%", ["−0.4", "±", "4.0", "%"]),
        ("p<0.05 and >50", ["p", "<", "0.05", "and", ">", "50"]),
    ],
)
def test_comparators_split_from_numbers(nlp, text, expected):
    assert toks(nlp, text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # vitd_pain.jsonl PMID 39577691: "one 50,000IU VitD tablet weekly"
        ("one 50,000IU VitD tablet weekly", ["one", "50,000", "IU", "VitD", "tablet", "weekly"]),
        # vitd_pain.jsonl PMID 18667086: "(4000IU 25(OH)D3 per day)"
        ("(4000IU 25(OH)D3 per day)", ["(", "4000", "IU", "25(OH)D3", "per", "day", ")"]),
        # vitd_other.jsonl PMID 37908888: "vitamin A 200µg, ... 130mg docosahexaenoic acid"
        ("vitamin A 200µg, 130mg", ["vitamin", "A", "200", "µg", ",", "130", "mg"]),
        # the forms named in the issue
        ("1000IU", ["1000", "IU"]),
        ("400iu", ["400", "iu"]),
        ("50μg", ["50", "μg"]),
        ("1.25mg", ["1.25", "mg"]),
        ("800IU/d", ["800", "IU/d"]),
    ],
)
def test_number_and_unit_split(nlp, text, expected):
    assert toks(nlp, text) == expected


@pytest.mark.parametrize(
    "text, token",
    [
        # vitd_pain.jsonl PMID 39006361
        ("vitamin D (25(OH)D) were measured", "25(OH)D"),
        ("active vitamin D (1,25(OH)2D) in serum", "1,25(OH)2D"),
        # vitd_pain.jsonl PMID 31412231: "Abbreviations: 25-OHD = 25-hydroxyvitamin D;"
        ("Abbreviations: 25-OHD = 25-hydroxyvitamin D;", "25-OHD"),
        ("serum 1,25(OH)2D.", "1,25(OH)2D"),
    ],
)
def test_vitamin_d_metabolites_stay_one_token(nlp, text, token):
    assert token in toks(nlp, text)


def test_abbreviation_detector_still_finds_koa():
    import scispacy.abbreviation  # noqa: F401

    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    nlp.add_pipe("sentencizer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nlp.add_pipe("abbreviation_detector")
        # offtopic.jsonl PMID 37635226
        doc = nlp("Knee osteoarthritis (KOA) is a multifactorial, slow-progressing, non-inflammatory "
                  "degenerative disease primarily affecting synovial joints. KOA is common.")
    pairs = {(a.text, a._.long_form.text) for a in doc._.abbreviations}
    assert ("KOA", "Knee osteoarthritis") in pairs
    assert len([a for a in doc._.abbreviations if a.text == "KOA"]) == 2


# Whitespace shapes spaCy treats specially: runs of spaces, line breaks, tabs, no-break spaces,
# leading/trailing whitespace, empty text.
WHITESPACE_CASES = ["", " ", "  a", "a  ", "a \n b", "\n\nx", " x ", "x\xa0 y", "a   b\t c", "a\n", "x .",
                    "Title\nBACKGROUND: pain (n = 12).  RESULTS:\tVAS fell\xa0(p<0.05)."]


def _shape(doc):
    return [(t.text, t.whitespace_) for t in doc]


@pytest.mark.slow
def test_chunk_cache_gives_spacys_tokens_on_every_corpus_abstract(corpus):
    """The memoised tokenizer must tokenize exactly as the plain one (texts and whitespace)."""
    import json

    texts = list(WHITESPACE_CASES)
    for path in sorted(corpus.glob("*.jsonl")) + sorted((corpus / "secondary").glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            r = json.loads(line)
            texts.append((r.get("title") or "") + "\n" + (r.get("abstract") or ""))
    assert len(texts) > 6000
    plain = make_tokenizer(spacy.blank("en"), cache=False)
    cached = make_tokenizer(spacy.blank("en"))
    tiny = make_tokenizer(spacy.blank("en"))
    tiny.max_entries = 50  # the cache is cleared over and over: results must not change
    for i, text in enumerate(texts):
        ref = _shape(plain(text))
        assert _shape(cached(text)) == ref, text[:80]
        if i < 1000:
            assert _shape(tiny(text)) == ref, text[:80]
    for text in texts[:200]:  # second time: every chunk comes from the cache
        assert _shape(cached(text)) == _shape(plain(text))
    assert len(tiny._cache) + len(tiny._old) <= 2 * (50 + 2 * 800)


def test_chunk_cache_is_bounded_and_keeps_tokenizer_settings():
    nlp = spacy.blank("en")
    tok = make_tokenizer(nlp)
    tok.max_entries = 10
    for i in range(100):
        tok(f"word{i} and ng/mL.")
    assert len(tok._cache) + len(tok._old) <= 2 * (10 + 2 * 8)
    assert tok.prefix_search is not None and "e.g." in tok.rules  # the inner tokenizer's settings
    assert [t.text for t in tok("e.g. 20ng/mL.")] == ["e.g.", "20", "ng/mL", "."]


def test_chunk_cache_on_random_whitespace_mixes():
    """Seeded random texts built from the shapes that matter (runs of 1-4 spaces, tabs, line
    breaks, no-break spaces, special cases, affixes), each tokenized after many others so that
    cached and uncached runs meet in every order; with a big and a tiny (always rotating) cache."""
    import random

    rng = random.Random(20261123)
    pieces = ["a", "b.", "(x)", "\n", " ", "  ", "   ", "    ", "\xa0", "\t", "e.g.", "20ng/mL.", "≥30"]
    plain = make_tokenizer(spacy.blank("en"), cache=False)
    big = make_tokenizer(spacy.blank("en"))
    tiny = make_tokenizer(spacy.blank("en"))
    tiny.max_entries = 5
    for _ in range(5000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        ref = _shape(plain(text))
        assert _shape(big(text)) == ref, repr(text)
        assert _shape(tiny(text)) == ref, repr(text)


def _span(m):
    return None if m is None else (m.start(), m.end())


@pytest.mark.slow
def test_anchored_searches_find_what_re_finds(corpus_texts):
    """AnchoredSearch and InfixFinditer must give re's match spans on every string spaCy can ask
    about: every corpus chunk with any number of characters cut off either end (what affix
    splitting leaves), plus seeded random strings of affix characters."""
    import random

    from vdmine.nlp.tokenizer import AnchoredSearch, InfixFinditer

    plain = make_tokenizer(spacy.blank("en"), cache=False)
    fast = make_tokenizer(spacy.blank("en")).inner
    pairs = []
    for name in ("prefix_search", "suffix_search"):
        ref, ours = getattr(plain, name), getattr(fast, name)
        assert isinstance(ours.__self__, AnchoredSearch) and ours.__self__._alts  # the shortcut is on
        assert ours.__self__.pattern == ref.__self__.pattern  # serialised as the same regex
        pairs.append((ref, ours))
    chunks = {c for text in corpus_texts for c in text.split()}
    strings = {c[i:j] for c in chunks if len(c) < 40 for i in range(len(c)) for j in range(i + 1, len(c) + 1)
               if i == 0 or j == len(c)}
    rng = random.Random(20261124)
    alphabet = list("aZ09.,;:()[]{}<>≥±%/-+'’\"…°$€μµ\n ") + ["IU", "mg", "ng/mL", "'s", "..", "e.g."]
    strings |= {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(20000)}
    assert len(strings) > 100_000
    infix_ref, infix = plain.infix_finditer, fast.infix_finditer
    assert isinstance(infix.__self__, InfixFinditer) and infix.__self__.ascii_starts is not None
    assert infix.__self__.pattern == infix_ref.__self__.pattern
    skipped = 0
    for s in strings:
        for ref, ours in pairs:
            assert _span(ours(s)) == _span(ref(s)), repr(s)
        assert [m.span() for m in infix(s)] == [m.span() for m in infix_ref(s)], repr(s)
        skipped += s.isascii() and not infix.__self__.ascii_starts.search(s)
    assert skipped > 10_000  # the pre-check is really used


def test_anchored_search_falls_back_on_other_patterns():
    """Patterns that are not a union of anchored alternatives are searched as they are."""
    from vdmine.nlp.tokenizer import AnchoredSearch, InfixFinditer

    for pattern, at_end in [("a|b$", True), ("(?i)x$", True), ("^a|b", False), ("(?#c)a$", True), ("a$", False)]:
        search = AnchoredSearch(pattern, at_end)
        assert search._alts is None
        for s in ["a", "b", "ba", "X", "ab"]:
            assert _span(search.search(s)) == _span(re.compile(pattern).search(s))
    for pattern in ["a|b*", "x|(?=y)", "(?i)a", "a|[^b]"]:  # can match empty / unknown first character
        assert InfixFinditer(pattern).ascii_starts is None
        assert [m.span() for m in InfixFinditer(pattern).finditer("xay")] == [m.span() for m in re.finditer(pattern, "xay")]
    infix = InfixFinditer(r"(?<=[0-9])[+\-](?=[0-9])|\.\.+|…")
    for s in ["a-b", "1-2", "a..b", "ab", "x…y", "é-", "1+2+3"]:
        assert [m.span() for m in infix.finditer(s)] == [m.span() for m in re.finditer(infix.pattern, s)], s
    widths = AnchoredSearch(r"\.\.+$|(?<=[0-9])(?:mg|g)$|'s$", True)  # unbounded, look-behind, two chars
    for s in ["....", "a.....", "5mg", "mg", "x5g", "it's", "'s", "s"]:
        assert _span(widths.search(s)) == _span(re.search(r"\.\.+$|(?<=[0-9])(?:mg|g)$|'s$", s)), s


@pytest.mark.slow
def test_fast_lexeme_attributes_equal_spacys_on_every_corpus_token(corpus_texts):
    """The faster lex_attr_getters give spaCy's value (and type) for every corpus token."""
    reference = spacy.blank("en").vocab.lex_attr_getters
    nlp = spacy.blank("en")
    make_tokenizer(nlp)
    fast = nlp.vocab.lex_attr_getters
    assert fast.keys() == reference.keys()
    from vdmine.nlp.tokenizer import _FASTER_GETTERS

    swapped = [attr for attr, (_, faster) in _FASTER_GETTERS.items() if fast[attr] is faster]
    assert len(swapped) == 19 and all(reference[attr] is _FASTER_GETTERS[attr][0] for attr in swapped)
    plain = make_tokenizer(spacy.blank("en"), cache=False)
    words = {t.text for text in corpus_texts for t in plain(text)}
    words |= {"http://x", "https://", "www.a", "a.com", "b@c.de", "-1,000.5", "1/2", "twenty", "21st", "±3",
              "Ⅻ", "²", "naïve", "x" * 120, " ", "$", "$$", "€", "$5", "a@b", "@", "''", "``", "«", "»", "(", ")",
              "...", "—", "Ab", "ÀB", "Éé", "ǅ", "١٢", "\n", "\xa0", "a.b.c@d.org", "%", "_", "+"}
    assert len(words) > 50_000
    for attr in swapped:
        for w in words:
            a, b = reference[attr](w), fast[attr](w)
            assert a == b and type(a) is type(b), (attr, w)
    # and the lexemes built from them are identical (flags hold every IS_* / LIKE_* attribute)
    def lexeme(vocab, w):
        lex = vocab[w]
        return lex.flags, lex.orth, lex.lower, lex.norm, lex.shape, lex.prefix, lex.suffix, lex.lang

    for w in sorted(words)[:5000]:
        assert lexeme(nlp.vocab, w) == lexeme(plain.vocab, w), w


def test_memory_zone_and_serialisation_keep_the_same_tokens():
    import pickle

    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    plain = make_tokenizer(spacy.blank("en"), cache=False)
    text = "Serum 25(OH)D (≥30 ng/mL) fell, e.g. in KOA.\nRESULTS: p<0.05."
    with nlp.memory_zone():  # strings made here are dropped on exit: the cache must not keep them
        assert _shape(nlp.tokenizer(text)) == _shape(plain(text))
        assert not nlp.tokenizer._cache
    assert _shape(nlp.tokenizer(text)) == _shape(plain(text))
    copy = pickle.loads(pickle.dumps(nlp.tokenizer))
    assert _shape(copy(text)) == _shape(plain(text))
    other = spacy.blank("en")
    other.tokenizer = make_tokenizer(other)
    other.tokenizer.from_bytes(nlp.tokenizer.to_bytes())
    assert other.tokenizer.inner.suffix_search.__self__._alts  # the fast searches are back after loading
    assert _shape(other.tokenizer(text)) == _shape(plain(text))


def test_memory_zones_read_the_lasting_cache_and_drop_their_own(corpus_texts):
    """Inside nlp.memory_zone() the chunk cache is read but not written; pieces new in the zone are
    cached for the zone only, so after it (its strings are gone) no entry names a dropped string."""
    nlp = spacy.blank("en")
    nlp.tokenizer = make_tokenizer(nlp)
    plain = make_tokenizer(spacy.blank("en"), cache=False)
    texts = corpus_texts[:120]
    for t in texts[:40]:  # the lasting cache: pieces seen outside any zone
        nlp.tokenizer(t)
    lasting = dict(nlp.tokenizer._cache)
    for _ in range(2):  # two zones in a row, over text partly seen before and partly new
        with nlp.memory_zone():
            for t in texts[20:80]:
                assert _shape(nlp.tokenizer(t)) == _shape(plain(t))
            assert nlp.tokenizer._zone  # new pieces were cached for the zone
            assert nlp.tokenizer._cache == lasting  # ... and not in the lasting cache
        assert nlp.tokenizer._zone is None
    for t in texts:  # after the zones: the same tokens, the cache fills again
        assert _shape(nlp.tokenizer(t)) == _shape(plain(t))
    assert len(nlp.tokenizer._cache) > len(lasting)
