"""Build the spaCy pipeline once per process, from the config.

Model-free by default: ``spacy.blank("en")`` + the scispaCy tokenizer (with vdmine's fixes,
memoised per chunk) + a sentencizer + scispaCy's abbreviation algorithm + vdmine's rule
components. When ``nlp.model`` names an installed spaCy/scispaCy model, it is loaded instead of
the blank pipeline and its entities are merged with the rule entities by the conditions component.

Component order matters: conditions, exposures and doses fill ``doc.spans``; design reads the
whole document; findings reads everything before it.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

import spacy
from spacy.attrs import IDX
from spacy.language import Language

from vdmine.config import ExposureConfig, NlpConfig
from vdmine.errors import VdmineError

# Importing these modules registers their spaCy factories.
from vdmine.nlp import abbreviations, conditions, design, doses, exposures, findings  # noqa: F401
from vdmine.nlp.docs import doc_text
from vdmine.nlp.tokenizer import make_tokenizer

_NEWLINE = re.compile("\n")

COMPONENTS = ("vdmine_conditions", "vdmine_exposures", "vdmine_doses", "vdmine_design", "vdmine_findings")


@Language.component("vdmine_line_breaks")
def line_breaks(doc):
    """A line break ends a sentence: the title ends at its newline even without a full stop, and
    each structured-abstract section ("RESULTS: ...") starts a sentence of its own."""
    text = doc_text(doc)
    if "\n" not in text:
        return doc
    starts = doc.to_array(IDX).tolist()
    # tokens whose text or trailing whitespace holds a line break, in order
    breaks = sorted({bisect_right(starts, m.start()) - 1 for m in _NEWLINE.finditer(text)})
    for i in breaks:
        if i >= len(doc) - 1:
            continue
        token = doc[i]
        if i > 0 and token.is_space:
            token.is_sent_start = False  # the break itself stays with the sentence it ends
        doc[i + 1].is_sent_start = True
    return doc


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
    # scispaCy's abbreviation algorithm, with faster candidate search and no leak (abbreviations.py)
    nlp.add_pipe("vdmine_abbreviations", name="abbreviation_detector")
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
