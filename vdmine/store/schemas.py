"""Explicit pyarrow schemas for every output table: the public contract of vdmine.

Each column carries its meaning as field metadata (``doc``); ``docs/data_dictionary.md`` is
generated from these schemas (``python -m vdmine.store.schemas > docs/data_dictionary.md``) and a
test keeps the two in step. Rows join on ``pmid`` (all tables) and on ``(pmid, sent_idx)`` (all
sentence-level tables: conditions, exposures, doses, findings, mechanisms, delivery).
"""

from __future__ import annotations

import pyarrow as pa


def _f(name: str, type_: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


def _schema(doc: str, *fields: pa.Field) -> pa.Schema:
    return pa.schema(list(fields), metadata={"doc": doc})


SECTION = pa.struct([("label", pa.string()), ("nlm_category", pa.string()), ("text", pa.string())])
MESH = pa.struct([("ui", pa.string()), ("name", pa.string()), ("major_topic", pa.bool_())])

PMID = _f("pmid", pa.string(), "Record id: the PubMed id, or a source-prefixed id such as 'vdw:12' for non-PubMed records.", False)
SENT_IDX = _f("sent_idx", pa.int32(), "0-based sentence index in the document text (title is sentence 0, the abstract follows).", False)
START = _f("start_char", pa.int32(), "Character offset of the mention's start in papers.title + '\\n' + papers.abstract.")
END = _f("end_char", pa.int32(), "Character offset one past the mention's end (same text as start_char).")

PAPERS = _schema(
    "One row per record (pmid); the latest version wins.",
    PMID,
    _f("version", pa.int32(), "PubMed record version (PMID Version attribute); 1 when the source has none."),
    _f("title", pa.string(), "Article title, inline markup (<i>, <sup>, ...) flattened to text."),
    _f("abstract", pa.string(), "Abstract text; structured abstracts are joined as 'LABEL: text' paragraphs separated by newlines. Empty when the record has none."),
    _f("abstract_sections", pa.list_(SECTION), "Structured-abstract sections: Label, NlmCategory and text of each AbstractText."),
    _f("journal", pa.string(), "Journal title."),
    _f("year", pa.int32(), "Publication year (PubDate Year, or the year in MedlineDate)."),
    _f("language", pa.string(), "Article language code(s), ';'-joined (e.g. 'eng')."),
    _f("pub_types", pa.list_(pa.string()), "PubMed publication types (e.g. 'Randomized Controlled Trial')."),
    _f("mesh", pa.list_(MESH), "MeSH descriptors: descriptor UI, name and MajorTopicYN."),
    _f("keywords", pa.list_(pa.string()), "Author keywords."),
    _f("doi", pa.string(), "DOI, if the record has one."),
    _f("pmcid", pa.string(), "PubMed Central id (PMC...), if any."),
    _f("source", pa.string(), "Where the record came from: 'eutils', 'xml:<file name>' or 'jsonl:<file name>'."),
    _f("retrieved_at", pa.timestamp("us", tz="UTC"), "When vdmine first read this version and content of the record (UTC); re-reading an unchanged record keeps it."),
    _f("vdmine_version", pa.string(), "vdmine version that wrote the row."),
    _f("study_design", pa.string(), "One design per paper: randomized controlled trial, meta-analysis, systematic review, narrative review, cohort, case-control, cross-sectional, case report, case series, non-randomized trial, animal, in vitro, guideline, other; null before extraction."),
    _f("study_design_evidence", pa.string(), "What the design was read from: 'pub_type:<type>' or 'text:<cue words>'."),
    _f("sample_size", pa.int32(), "Total participants enrolled, randomised or analysed; null when not stated."),
    _f("sample_size_evidence", pa.string(), "The text span the sample size was read from."),
    _f("content_hash", pa.string(), "sha256 of title+abstract+pub_types; extraction is redone when it changes."),
)

QUARANTINE = _schema(
    "Inputs that could not be used, with the reason. Nothing is dropped silently.",
    _f("record_id", pa.string(), "pmid or other id of the item, when one could be read."),
    _f("source", pa.string(), "File, URL path or batch the item came from (never contains the API key)."),
    _f("stage", pa.string(), "Where it failed: 'parse', 'fetch', 'extract' or 'input'."),
    _f("reason", pa.string(), "Human-readable reason."),
    _f("snippet", pa.string(), "Up to 500 characters of the offending input, for diagnosis."),
    _f("quarantined_at", pa.timestamp("us", tz="UTC"), "When the item was quarantined (UTC)."),
)

CONDITIONS = _schema(
    "Condition (disease) mentions, normalised to a canonical name and MeSH descriptor.",
    PMID, SENT_IDX, START, END,
    _f("text", pa.string(), "Mention text as written."),
    _f("canonical", pa.string(), "Canonical condition name (e.g. 'knee osteoarthritis')."),
    _f("mesh_id", pa.string(), "MeSH descriptor id (e.g. 'D020370'), or null when unknown."),
    _f("negated", pa.bool_(), "True when the mention is negated ('without fracture', 'no osteoarthritis')."),
    _f("source", pa.string(), "What found it: 'lexicon', 'abbreviation', 'medic', 'mesh' or 'model'."),
)

EXPOSURES = _schema(
    "Exposure mentions: vitamin D forms, vitamin D status and levels, co-interventions (or the configured exposure vocabulary).",
    PMID, SENT_IDX, START, END,
    _f("text", pa.string(), "Mention text as written."),
    _f("canonical", pa.string(), "Canonical exposure (e.g. 'cholecalciferol', 'vitamin D deficiency', 'serum 25(OH)D', 'calcium')."),
    _f("kind", pa.string(), "'form' (a compound given), 'status' (deficiency/insufficiency), 'level' (a measured serum level) or 'co_intervention'."),
    _f("mesh_id", pa.string(), "MeSH id of the canonical exposure, when known."),
    _f("value", pa.float64(), "For kind='level': the numeric value as written."),
    _f("unit", pa.string(), "For kind='level': the unit as written (ng/mL, nmol/L)."),
    _f("value_ng_ml", pa.float64(), "For kind='level': the value in ng/mL (nmol/L / 2.496)."),
    _f("comparator", pa.string(), "For kind='level': the comparison written with it ('<', '>=', ...), marking a cut-off."),
)

DOSES = _schema(
    "Doses, one row per arm: amount, unit, regimen and the normalised daily vitamin D dose.",
    PMID, SENT_IDX, START, END,
    _f("text", pa.string(), "Dose text as written."),
    _f("compound", pa.string(), "What was dosed (cholecalciferol, ergocalciferol, vitamin D, calcium, ...). Doses of other substances keep their own compound."),
    _f("amount", pa.float64(), "Numeric amount as written (50,000 -> 50000; 50K -> 50000)."),
    _f("unit", pa.string(), "Normalised unit: 'IU', 'ug', 'mg', 'g', 'mL', or a per-weight/area unit such as 'mg/kg', 'IU/kg', 'mg/m2'."),
    _f("frequency", pa.string(), "'daily', 'weekly', 'every N days', 'monthly', 'single', ... or null."),
    _f("route", pa.string(), "'oral', 'intramuscular', 'intravenous', 'topical', 'injection' or null."),
    _f("duration_days", pa.float64(), "Treatment duration in days ('for 12 weeks' -> 84), or null."),
    _f("iu_per_day", pa.float64(), "Vitamin D dose in IU per day (1 ug = 40 IU; weekly / 7, monthly / 30, every N days / N). Null for single boluses and for non-vitamin-D compounds."),
    _f("bolus_iu", pa.float64(), "Single or bolus vitamin D dose in IU; null otherwise."),
    _f("regimen", pa.string(), "'maintenance', 'loading' or 'bolus'."),
)

FINDINGS = _schema(
    "Result and conclusion statements: who did what to which outcome, in which direction.",
    PMID, SENT_IDX,
    _f("sentence", pa.string(), "The sentence text."),
    _f("section", pa.string(), "Abstract section: background, methods, results, conclusions, title or other."),
    _f("exposure", pa.string(), "Exposure the statement is about (e.g. 'vitamin D supplementation', 'serum 25(OH)D'), or null."),
    _f("comparator", pa.string(), "Comparator when stated (placebo, control, ...), or null."),
    _f("condition", pa.string(), "Canonical condition the statement concerns, or null."),
    _f("outcome", pa.string(), "Canonical outcome (pain, bone mineral density, fracture, ...)."),
    _f("relation", pa.string(), "'effect' (an intervention changed something) or 'association' (an observed correlation or risk)."),
    _f("effect_direction", pa.string(), "What happened to the outcome: increase, decrease, no_difference, unclear."),
    _f("direction", pa.string(), "What it means: benefit, harm, no_effect, mixed, association_positive, association_negative, unclear."),
    _f("significant", pa.bool_(), "True/False from p-values, confidence intervals and wording; null when not stated."),
    _f("hedged", pa.bool_(), "True when hedged (may, might, suggest, possibly, appear to)."),
    _f("negated", pa.bool_(), "True when the statement is negated."),
    _f("study_design", pa.string(), "The paper's design (copied from papers.study_design)."),
    _f("trigger", pa.string(), "The cue words the direction was read from, for audit."),
)

RUNS = _schema(
    "One row per run of the pipeline: what it did and how it ended.",
    _f("run_id", pa.string(), "Unique id of the run.", False),
    _f("flow", pa.string(), "'run' (PubMed query) or 'extract' (local files)."),
    _f("query", pa.string(), "The PubMed query, or the input paths for extract."),
    _f("window_start", pa.string(), "Start of the fetched date window (YYYY/MM/DD), null for a full fetch."),
    _f("window_end", pa.string(), "End of the fetched date window (YYYY/MM/DD)."),
    _f("started_at", pa.timestamp("us", tz="UTC"), "Start time (UTC)."),
    _f("finished_at", pa.timestamp("us", tz="UTC"), "End time (UTC)."),
    _f("status", pa.string(), "'completed' or 'failed'."),
    _f("found", pa.int64(), "Records the query or inputs offered."),
    _f("fetched", pa.int64(), "Records read in this run."),
    _f("new", pa.int64(), "Records not in papers before."),
    _f("updated", pa.int64(), "Records that replaced an older version or changed content."),
    _f("deleted", pa.int64(), "Records removed by DeleteCitation."),
    _f("quarantined", pa.int64(), "Items quarantined in this run."),
    _f("extracted", pa.int64(), "Records (re-)extracted in this run."),
    _f("vdmine_version", pa.string(), "vdmine version."),
    _f("extractor_version", pa.string(), "Fingerprint of the extractor code, lexicons and NLP config."),
    _f("duration_s", pa.float64(), "Wall-clock duration in seconds."),
    _f("message", pa.string(), "One-paragraph summary, or the error."),
)

EVIDENCE_MAP = _schema(
    "One row per (condition, exposure, outcome): how many papers and findings, by design and direction, and a rule-based verdict (rules: vdmine/evidence/verdict_rules.toml, docs/evidence_map.md).",
    _f("condition", pa.string(), "Canonical condition (findings.condition); 'unspecified' when the findings name none.", False),
    _f("condition_group", pa.string(), "Top-level condition via vdmine/evidence/condition_hierarchy.tsv (knee osteoarthritis -> osteoarthritis); the condition itself when it has no parent."),
    _f("exposure", pa.string(), "Exposure (findings.exposure); 'unspecified' when the findings name none.", False),
    _f("outcome", pa.string(), "Outcome (findings.outcome); 'unspecified' when the findings name none.", False),
    _f("n_papers", pa.int32(), "Distinct papers (pmids) with at least one finding in this row."),
    _f("n_findings", pa.int32(), "Findings (sentences) in this row."),
    _f("n_meta_analysis", pa.int32(), "Papers whose design is meta-analysis or systematic review."),
    _f("n_rct", pa.int32(), "Papers whose design is randomized controlled trial."),
    _f("n_observational", pa.int32(), "Papers whose design is cohort, case-control, cross-sectional or non-randomized trial."),
    _f("n_case_report", pa.int32(), "Papers whose design is case report or case series."),
    _f("n_animal_in_vitro", pa.int32(), "Papers whose design is animal or in vitro."),
    _f("n_other_design", pa.int32(), "Papers of any other or unknown design (narrative review, guideline, other, null)."),
    _f("n_benefit", pa.int32(), "Findings with direction benefit."),
    _f("n_harm", pa.int32(), "Findings with direction harm."),
    _f("n_no_effect", pa.int32(), "Findings with direction no_effect."),
    _f("n_mixed", pa.int32(), "Findings with direction mixed."),
    _f("n_association_positive", pa.int32(), "Findings with direction association_positive."),
    _f("n_association_negative", pa.int32(), "Findings with direction association_negative."),
    _f("n_unclear", pa.int32(), "Findings with direction unclear or null (not weighed)."),
    _f("n_hedged", pa.int32(), "Findings marked hedged."),
    _f("direction", pa.string(), "Dominant direction: the findings direction with the largest summed weight (ties broken by the order benefit, harm, no_effect, mixed, association_positive, association_negative); null when no finding is weighed."),
    _f("weight_for", pa.float64(), "Summed paper weight of papers whose net stance is favourable (benefit, or an association pointing to benefit)."),
    _f("weight_against", pa.float64(), "Summed paper weight of papers whose net stance is unfavourable (harm, or an association pointing to harm)."),
    _f("weight_null", pa.float64(), "Summed paper weight of papers whose net stance is no effect."),
    _f("weight_mixed", pa.float64(), "Summed paper weight of papers whose net stance is mixed."),
    _f("verdict", pa.string(), "supports, against, no effect, mixed or insufficient (rules in docs/evidence_map.md)."),
    _f("verdict_rule", pa.string(), "Which rule gave the verdict, with the weights, for audit."),
    _f("iu_per_day_min", pa.float64(), "Smallest vitamin D daily dose (doses.iu_per_day) in the papers that carry the verdict; null when none is stated."),
    _f("iu_per_day_max", pa.float64(), "Largest vitamin D daily dose (doses.iu_per_day) in those papers."),
    _f("bolus_iu", pa.list_(pa.float64()), "Distinct single/bolus vitamin D doses (doses.bolus_iu) in those papers, ascending; listed apart from daily doses."),
    _f("pmids", pa.list_(pa.string()), "All pmids in this row, sorted."),
    _f("supporting_pmids", pa.list_(pa.string()), "Pmids whose net stance agrees with the verdict (all pmids for mixed/insufficient), sorted."),
    _f("opposing_pmids", pa.list_(pa.string()), "Pmids whose net stance disagrees with the verdict, sorted."),
    _f("representative_pmid", pa.string(), "Pmid of the representative sentence."),
    _f("representative_sent_idx", pa.int32(), "sent_idx of the representative sentence."),
    _f("representative_sentence", pa.string(), "One finding sentence from a paper that carries the verdict: best design, then unhedged, then conclusions > results > title, then lowest pmid/sent_idx."),
)

MECHANISMS = _schema(
    "Sentences that name a pain mechanism (VDR, NGF, GDNF, opioid receptors, dorsal root ganglion, immune cells, cytokines ...) matched against vdmine/nlp/lexicons/mechanism_cues.tsv, in the extraction pass (component vdmine_mechanisms).",
    PMID, SENT_IDX, START, END,
    _f("sentence", pa.string(), "The sentence text."),
    _f("mechanism", pa.string(), "Canonical mechanism (e.g. 'vitamin D receptor', 'nerve growth factor')."),
    _f("category", pa.string(), "receptor, neurotrophic factor, opioid signalling, sensory neuron, immune, or inflammation."),
    _f("mesh_id", pa.string(), "MeSH descriptor of the mechanism, when known."),
    _f("cue", pa.string(), "The words matched, as written."),
    _f("vitd_in_sentence", pa.bool_(), "True when the same sentence names vitamin D (vdmine/nlp/lexicons/context_cues.tsv)."),
    _f("pain_context", pa.bool_(), "True when this sentence or an adjacent one talks about pain or nociception (context_cues.tsv)."),
    _f("study_design", pa.string(), "The paper's design (papers.study_design)."),
)

DELIVERY = _schema(
    "Sentences that say how vitamin D is given (injectable hydrogel, intramuscular, oral, topical ...) matched against vdmine/nlp/lexicons/delivery_cues.tsv; only sentences that also name vitamin D. Found in the extraction pass (component vdmine_mechanisms).",
    PMID, SENT_IDX, START, END,
    _f("sentence", pa.string(), "The sentence text."),
    _f("delivery", pa.string(), "Canonical delivery (e.g. 'injectable hydrogel', 'intramuscular', 'oral', 'topical')."),
    _f("category", pa.string(), "'route' (how it enters the body) or 'formulation' (what carries it)."),
    _f("mesh_id", pa.string(), "MeSH descriptor, when known."),
    _f("cue", pa.string(), "The words matched, as written."),
    _f("conditions", pa.list_(pa.string()), "Canonical conditions the paper's findings or condition mentions name, sorted."),
    _f("outcome", pa.string(), "Outcome of the paper's best finding (same sentence first, else conclusions > results; ties by outcome name), or null."),
    _f("direction", pa.string(), "Direction of that finding (what result the delivery had), or null."),
    _f("result_sent_idx", pa.int32(), "sent_idx of that finding, or null."),
    _f("study_design", pa.string(), "The paper's design (papers.study_design)."),
)

TABLES: dict[str, pa.Schema] = {
    "papers": PAPERS,
    "quarantine": QUARANTINE,
    "conditions": CONDITIONS,
    "exposures": EXPOSURES,
    "doses": DOSES,
    "findings": FINDINGS,
    "runs": RUNS,
    "evidence_map": EVIDENCE_MAP,
    "mechanisms": MECHANISMS,
    "delivery": DELIVERY,
}


def data_dictionary(tables: dict[str, pa.Schema] | None = None) -> str:
    """Render the schemas as Markdown (the source of docs/data_dictionary.md)."""
    tables = tables or TABLES
    out = [
        "# Data dictionary",
        "",
        "Generated from `vdmine/store/schemas.py` by `python -m vdmine.store.schemas`; do not edit by hand.",
        "Every table is a Parquet dataset folder `OUT/<table>/`. Sentence-level tables join to `papers` on `pmid`",
        "and to each other on `(pmid, sent_idx)`; character offsets index `title + '\\n' + abstract`.",
        "",
    ]
    for name, schema in tables.items():
        doc = (schema.metadata or {}).get(b"doc", b"").decode()
        out += [f"## `{name}`", "", doc, "", "| column | type | meaning |", "|---|---|---|"]
        for field in schema:
            fdoc = (field.metadata or {}).get(b"doc", b"").decode().replace("|", "\\|")
            out.append(f"| `{field.name}` | {field.type} | {fdoc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover - documentation generator
    print(data_dictionary(), end="")
