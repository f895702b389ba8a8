"""Evidence map, mechanism/delivery sentences, seed-claim checking and the report.

Entry points for the flow and CLI:

- :func:`vdmine.evidence.map.build_and_write_evidence_map` (out_dir) -> {table: path}
- :func:`vdmine.evidence.report.write_report` (out_dir, config, counts, claims_path=None) -> (md, html)
- :func:`vdmine.evidence.claims.check_claims` (out_dir, claims_path=None) -> list[dict]
- :func:`vdmine.evidence.claims.format_claims_table` (rows) -> str
"""
