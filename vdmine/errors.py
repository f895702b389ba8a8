"""Coded, one-line errors (in the spirit of spaCy's ``Errors``).

Every error a user can trigger has a stable code so that logs, tests and docs can refer to it.
The CLI prints ``vdmine: error [Exxx] message`` and exits non-zero; it never shows a traceback
for these.
"""

from __future__ import annotations


class Errors:
    E001 = "Config file not found: {path}"
    E002 = "Config file {path} is not valid TOML: {detail}"
    E003 = "Unknown config key '{key}' in {where}. Known keys: {known}"
    E004 = "Config value {key} = {value!r} is invalid: {detail}"
    E005 = "The PubMed query is empty. Set [query] pubmed in the config or pass --query."
    E006 = "The PubMed query looks malformed: {detail}"
    E010 = "Input path does not exist: {path}"
    E011 = "Input path is not readable: {path} ({detail})"
    E012 = "Unsupported input file {path}: expected PubMed XML (.xml, .xml.gz) or JSONL (.jsonl, .jsonl.gz)"
    E013 = (
        "Cannot read {path}: {detail}. Remote inputs are opened with fsspec; install the package for "
        "this protocol (for example s3fs for s3://, gcsfs for gs://, adlfs for az://)"
    )
    E020 = (
        "Cannot reach NCBI E-utilities at {url} ({detail}). Set VDMINE_EUTILS_URL to a reachable "
        "E-utilities endpoint, or run offline on local files with: vdmine extract --input PATH --out DIR"
    )
    E021 = "E-utilities request failed after {attempts} attempts: {detail}"
    E022 = "E-utilities returned an error for {what}: {detail}"
    E023 = "E-utilities returned a response that is not valid XML for {what}: {detail}"
    E030 = "Output folder {path} is not writable: {detail}"
    E031 = "Another vdmine run holds the lock on {path} (pid {pid}, since {since}). Wait for it or remove {lock} if that run is dead."
    E032 = "No space left while writing {path}. The previous tables are intact."
    E040 = "spaCy model '{model}' (config nlp.model) is not installed. Install it or set nlp.model = \"\" for the model-free pipeline."
    E041 = "Vocabulary file {path} (config nlp.vocabularies) cannot be read: {detail}"
    E042 = "Exposure lexicon '{lexicon}' (config exposure.lexicon) cannot be used: {detail}. Give a packaged name ({known}) or a path to a JSONL file."
    E050 = "No '{table}' table in {path}. Run `vdmine run` or `vdmine extract` first."


class VdmineError(Exception):
    """A user-facing error with a stable code."""

    def __init__(self, code: str, **kwargs: object) -> None:
        self.code = code
        template = getattr(Errors, code)
        self.message = template.format(**kwargs)
        super().__init__(f"[{code}] {self.message}")
