"""Demo data shipped with the tip line: example.org fact-checks, plainly marked as such."""
