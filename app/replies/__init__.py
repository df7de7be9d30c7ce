"""Patients' replies to the outbox's messages: read from the texting vendor's replies
export (CSV) and from the practice's mailbox (Maildir), matched and acted on by
app.services.replies."""
