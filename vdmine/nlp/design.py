"""PLACEHOLDER (being written now): the vdmine_design component. Replace this whole file."""

from __future__ import annotations

from spacy.language import Language


@Language.factory("vdmine_design", default_config={})
def make_design(nlp, name):
    return lambda doc: doc


def rows(doc, pmid, **kwargs):
    return []


def paper_fields(doc, pub_types):
    return {"study_design": None, "study_design_evidence": None, "sample_size": None, "sample_size_evidence": None}
