"""Importers for the practice's own systems: FHIR R4 (bundles and bulk NDJSON), CSV
exports (roster, schedule) with saved column mappings. Pure parsing and validation into
plain records; app.services.imports stores them in one transaction."""
