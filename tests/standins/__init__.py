"""Stand-ins for Wikidata and Wikimedia that tests start themselves (see fixtures.py)."""
