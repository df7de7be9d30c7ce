"""Prior-authorization logic with no I/O: decision clocks, business days, check cadence,
the payer-wording normalizer, and the rules that turn a PA's situation into task specs."""
