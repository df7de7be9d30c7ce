"""The local model runtime: llama-cpp-python wrapper, model files and hashes, versioned
prompts with fenced untrusted data, JSON-schema output, grounding and text checks.
It imports nothing from app/: the automations layer records audits through app services."""
