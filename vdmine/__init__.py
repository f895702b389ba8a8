"""vdmine: PubMed records -> spaCy Docs -> typed rows -> Arrow tables -> Parquet evidence map."""

__version__ = "0.1.0"
