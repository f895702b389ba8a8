"""Build the spaCy pipeline once per process, from the config.

Model-free by default: ``spacy.blank("en")`` + the scispaCy tokenizer (with vdmine's fixes) +
a sentencizer + scispaCy's AbbreviationDetector + vdmine's rule components. When ``nlp.model``
names an installed spaCy/scispaCy model, it is loaded instead of the blank pipeline and its
entities are merged with the rule entities by the conditions component.

Component order matters: conditions, exposures and doses fill ``doc.spans``; design reads the
whole document; findings reads everything before it.
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import spacy
from spacy.language import Language
from spacy.matcher import Matcher

from vdmine.config import ExposureConfig, NlpConfig
from vdmine.errors import VdmineError

# Importing these modules registers their spaCy factories.
from vdmine.nlp import conditions, design, doses, exposures, findings  # noqa: F401
from vdmine.nlp.tokenizer import make_tokenizer
import scispacy.abbreviation  # noqa: F401  (registers "abbreviation_detector")

# scispaCy's AbbreviationDetector warns on every doc that its global matcher has no patterns.
warnings.filterwarnings("ignore", message=r".*\[W036\].*")

COMPONENTS = ("vdmine_conditions", "vdmine_exposures", "vdmine_doses", "vdmine_design", "vdmine_findings")


@Language.component("vdmine_line_breaks")
def line_breaks(doc):
    """A line break ends a sentence: the title ends at its newline even without a full stop, and
    each structured-abstract section ("RESULTS: ...") starts a sentence of its own."""
    for i, token in enumerate(doc[:-1]):
        if "\n" in token.text or "\n" in token.whitespace_:
            if i > 0 and token.is_space:
                token.is_sent_start = False  # the break itself stays with the sentence it ends
            doc[i + 1].is_sent_start = True
    return doc


class AbbreviationMatcherReset:
    """Frees the memory scispaCy's AbbreviationDetector leaks.

    For every abbreviation it defines, the detector adds a rule to its ``global_matcher`` and
    removes it after the doc; spaCy's ``Matcher.remove`` does not free the pattern's memory
    (it stays in the matcher's memory pool), so a long run grows by ~0.4 KiB per abstract
    (~14 GiB over 36 M abstracts). When the matcher is empty, as it is between docs, it is
    swapped for a fresh one every ``every`` docs: identical matching, bounded memory.
    """

    def __init__(self, nlp: Language, every: int = 1000):
        self.nlp, self.every, self.seen = nlp, every, 0

    def __call__(self, doc):
        self.seen += 1
        if self.seen >= self.every:
            detector = self.nlp.get_pipe("abbreviation_detector")
            if len(detector.global_matcher) == 0:
                detector.global_matcher = Matcher(self.nlp.vocab)
                self.seen = 0
        return doc


@Language.factory("vdmine_abbreviation_reset", default_config={"every": 1000})
def make_abbreviation_reset(nlp: Language, name: str, every: int) -> AbbreviationMatcherReset:
    return AbbreviationMatcherReset(nlp, every)


def _base(model: str) -> Language:
    if not model:
        return spacy.blank("en")
    try:
        return spacy.load(model)
    except OSError:
        raise VdmineError("E040", model=model) from None


def build_pipeline(nlp_cfg: NlpConfig | None = None, exposure_cfg: ExposureConfig | None = None) -> Language:
    """Assemble the pipeline. Call once per process (see :func:`get_pipeline`)."""
    nlp_cfg = nlp_cfg or NlpConfig()
    exposure_cfg = exposure_cfg or ExposureConfig()
    nlp = _base(nlp_cfg.model)
    nlp.tokenizer = make_tokenizer(nlp)
    if not ({"parser", "senter", "sentencizer"} & set(nlp.pipe_names)):
        nlp.add_pipe("sentencizer", first=True)
        nlp.add_pipe("vdmine_line_breaks", first=True)
    # make_serializable keeps Docs picklable, which spaCy's n_process > 1 needs.
    nlp.add_pipe("abbreviation_detector", config={"make_serializable": True})
    nlp.add_pipe("vdmine_abbreviation_reset")
    nlp.add_pipe("vdmine_conditions", config={"vocabularies": list(nlp_cfg.vocabularies)})
    nlp.add_pipe(
        "vdmine_exposures",
        config={"lexicon": exposure_cfg.lexicon, "co_interventions": list(exposure_cfg.co_interventions)},
    )
    nlp.add_pipe("vdmine_doses")
    nlp.add_pipe("vdmine_design")
    nlp.add_pipe("vdmine_findings", config={"exposure_name": exposure_cfg.name})
    return nlp


@lru_cache(maxsize=4)
def _cached(model: str, vocabularies: tuple[str, ...], lexicon: str, co: tuple[str, ...], name: str) -> Language:
    return build_pipeline(
        NlpConfig(model=model, vocabularies=list(vocabularies)),
        ExposureConfig(name=name, lexicon=lexicon, co_interventions=list(co)),
    )


def get_pipeline(nlp_cfg: NlpConfig | None = None, exposure_cfg: ExposureConfig | None = None) -> Language:
    """The process-wide pipeline for this configuration (built on first use, then reused)."""
    nlp_cfg = nlp_cfg or NlpConfig()
    exposure_cfg = exposure_cfg or ExposureConfig()
    return _cached(
        nlp_cfg.model,
        tuple(nlp_cfg.vocabularies),
        exposure_cfg.lexicon,
        tuple(exposure_cfg.co_interventions),
        exposure_cfg.name,
    )
