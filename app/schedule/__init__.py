"""The schedule's own rules: missed visits, repeat no-shows and waitlist ranking (pure)."""
