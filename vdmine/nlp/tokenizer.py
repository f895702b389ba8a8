"""PLACEHOLDER (being written now): scispaCy tokenizer with vdmine's fixes."""

from scispacy.custom_tokenizer import combined_rule_tokenizer


def make_tokenizer(nlp):
    return combined_rule_tokenizer(nlp)
