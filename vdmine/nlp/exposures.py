"""PLACEHOLDER (being written now): the vdmine_exposures component. Replace this whole file."""

from __future__ import annotations

from spacy.language import Language


@Language.factory("vdmine_exposures", default_config={"lexicon": "vitamin_d", "co_interventions": []})
def make_exposures(nlp, name, lexicon: str, co_interventions: list):
    return lambda doc: doc


def rows(doc, pmid, **kwargs):
    return []
