"""Safety alignment: a multilingual red-team set, human review, and refusal evaluation.

    build (templates) or load (user's sets) -> review (web page, SQLite) -> export approved -> CAT source
    evaluate: refusal on held-out harmful prompts vs over-refusal on safe contrast prompts
"""
