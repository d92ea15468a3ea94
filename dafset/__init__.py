"""DAFSet builder: knowledge-editing cases from Wikidata, and the DAFNet trainer that consumes them."""

__version__ = "0.1.0"
