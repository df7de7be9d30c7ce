"""Denials, pure: code lists, the claim classification rules and what a classified claim
asks of people (task specs). No vault, no queue: the storage and read services are in
app.services.remittance, the workflow in automations.workflows.denials."""
