"""auroram: continual pretraining of language models on new languages and code (Aurora-M, reproduced)."""

__version__ = "0.1.0"
